"""The console's routes on the worker's Faust web server: `/console/`.

Pages are duanka's own files (`static/`), served with a policy that lets them load nothing
from anywhere else. The login page takes the API token in a form's body and sets a session
cookie (`session`); every other route needs that cookie: an asset, JSON or an export
answers 401 without it, a page sends the browser to the login form. What is answered from
the case linker or a subject's state goes to the worker holding it (`forwarding`).
"""

from __future__ import annotations

import html
import importlib.resources
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, cast
from urllib.parse import quote

import orjson
from aiohttp import web
from faust.web import View
from pydantic import ValidationError
from yarl import URL

from duanka.console.answers import (
    as_json,
    error,
    inline_style_policy,
    respond,
    see_other,
)
from duanka.console.case_view import (
    Filters,
    case_list,
    case_page,
    export_csv,
    export_json,
    search,
)
from duanka.console.forwarding import Handler, at_owner
from duanka.console.session import COOKIE, CSRF_FIELD, CSRF_HEADER, Sessions
from duanka.detector.context import raw_topic
from duanka.detector.core.routing import SUBJECT_KINDS
from duanka.detector.core.ties import Tie
from duanka.detector.web import described_state
from duanka.schemas.alerts import ENTITY_FIELDS, Alert, EntityKind, SubjectKind
from duanka.schemas.codec import DecodeError, encode
from duanka.schemas.dispositions import Disposition

if TYPE_CHECKING:
    from duanka.detector.context import Detector

CASES_KEY: Final = "cases"
ASSETS: Final = ("console.css", "console.js", "cases.js", "case.js")
CONTENT_TYPES: Final = {".css": "text/css", ".js": "text/javascript"}


def _file(name: str) -> str:
    return importlib.resources.files("duanka.console").joinpath("static", name).read_text()


def _assembled(page: str, parts: dict[str, str]) -> str:
    """A page with the parts every logged-in page shares (its head, the header bar) put in."""
    for placeholder, part in parts.items():
        page = page.replace(placeholder, part)
    return page


class Console:
    """The console of one worker: its sessions and the files it serves."""

    def __init__(self, detector: Detector) -> None:
        settings = detector.settings
        self.detector = detector
        token = settings.api_token
        self.sessions = (
            None
            if token is None
            else Sessions(token.get_secret_value(), settings.console_session_lifetime)
        )
        self.institution = settings.console_institution
        self.assets = {name: _file(name).encode() for name in ASSETS}
        parts = {"{{head}}": _file("_head.html"), "{{header}}": _file("_header.html")}
        self.pages = {
            name: _assembled(_file(name), parts)
            for name in ("login.html", "cases.html", "case.html")
        }
        self.login_policy = inline_style_policy(self.pages["login.html"])
        """The login page is the one page served without a session, so it carries its
        style inline, allowed by its hash: everything else needs a session."""
        self.dispositions = raw_topic(detector.app, settings.topic("dispositions"))
        self.sent: set[str] = set()
        """Alerts this worker sent the console's disposition of: a second one is refused
        here even before the linker has taken the first."""

    # Sessions ---------------------------------------------------------------------------

    def session(self, request: web.Request) -> str | None:
        """The request's session cookie, if it is a valid one."""
        cookie = request.cookies.get(COOKIE)
        if self.sessions is None or not self.sessions.valid(cookie, datetime.now(UTC)):
            return None
        return cookie

    def login_page(self, status: int, message: str = "", target: object = None) -> web.Response:
        """The login form, with `message` above it, sending the analyst on to `target` (a
        console page) once logged in."""
        if not isinstance(target, str) or not _local_console_path(target):
            target = "/console/"
        if self.sessions is None:
            message, status = "The console is off: DUANKA_API_TOKEN is not set.", 503
        body = (
            self.pages["login.html"]
            .replace("{{error}}", html.escape(message))
            .replace("{{next}}", html.escape(target))
        )
        return respond(body.encode(), "text/html", status, policy=self.login_policy)

    async def login(self, request: web.Request) -> web.StreamResponse:
        """POST /console/login: the token from the form; a session cookie on success."""
        form = await request.post()
        target = form.get("next")
        if self.sessions is None:
            return self.login_page(503)
        if not _same_origin(request):
            return self.login_page(403, "Log in from duanka's own login page.", target)
        token = form.get("token")
        if not isinstance(token, str) or not self.sessions.token_matches(token):
            return self.login_page(401, "That is not the API token.", target)
        if not isinstance(target, str) or not _local_console_path(target):
            target = "/console/"
        response = see_other(target)
        response.set_cookie(
            COOKIE,
            self.sessions.issue(datetime.now(UTC)),
            max_age=int(self.sessions.lifetime.total_seconds()),
            path="/console",
            httponly=True,
            samesite="Strict",
            secure=request.secure or request.headers.get("X-Forwarded-Proto") == "https",
        )
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """POST /console/logout: the session cookie cleared."""
        cookie = self.session(request)
        if cookie is not None:
            form = await request.post()
            given = form.get(CSRF_FIELD)
            if not self._changes_allowed(
                request, cookie, given if isinstance(given, str) else None
            ):
                return error(403, "a logout must come from the console's own page")
        response = see_other("/console/login")
        response.del_cookie(COOKIE, path="/console")
        return response

    def _changes_allowed(self, request: web.Request, cookie: str, given: str | None) -> bool:
        assert self.sessions is not None
        return _same_origin(request) and self.sessions.csrf_matches(cookie, given)

    def page(self, name: str) -> Handler:
        """A page of the console, for a logged-in analyst; the login form otherwise."""

        async def serve(request: web.Request, **_: str) -> web.StreamResponse:
            cookie = self.session(request)
            if cookie is None:
                return see_other(f"/console/login?next={quote(request.path_qs)}")
            assert self.sessions is not None
            body = (
                self.pages[name]
                .replace("{{csrf}}", self.sessions.csrf(cookie))
                .replace("{{institution}}", html.escape(self.institution))
            )
            return respond(body.encode(), "text/html")

        return serve

    async def asset(self, request: web.Request, name: str) -> web.StreamResponse:
        """A stylesheet or script of the console."""
        if self.session(request) is None:
            return error(401, "log in to the console first")
        body = self.assets.get(name)
        if body is None:
            return error(404, f"no asset {name}")
        return respond(body, CONTENT_TYPES[name[name.rindex(".") :]])

    def guarded(self, handler: Handler, *, changes: bool = False) -> Handler:
        """`handler` for a logged-in analyst only (401 otherwise); a change also needs the
        session's CSRF value in its header and to come from this site (403 otherwise)."""

        async def checked(request: web.Request, **kwargs: str) -> web.StreamResponse:
            cookie = self.session(request)
            if cookie is None:
                return error(401, "log in to the console first")
            if changes and not self._changes_allowed(
                request, cookie, request.headers.get(CSRF_HEADER)
            ):
                return error(403, "a change must come from the console's own page")
            return await handler(request, **kwargs)

        return checked

    def on_linker(self, answer: Handler) -> Handler:
        """`answer`, on the worker holding the case linker."""

        async def routed(request: web.Request, **kwargs: str) -> web.StreamResponse:
            table = self.detector.case_links.table
            return await at_owner(self.detector.app, request, table, CASES_KEY, answer, **kwargs)

        return routed

    # Answers -------------------------------------------------------------------------------

    async def cases(self, request: web.Request) -> web.StreamResponse:
        """The cases, filtered by `?status=&rule=&institution=`."""
        query = request.query
        filters = Filters(
            query.get("status") or None, query.get("rule") or None, query.get("institution") or None
        )
        linker = self.detector.case_links.linker()
        return as_json(case_list(linker, filters, datetime.now(UTC)))

    async def case(self, request: web.Request, case_id: str) -> web.StreamResponse:
        """One case, as the case page draws it."""
        page = self._case_page(case_id)
        if page is None:
            return error(404, f"no case {case_id}")
        return as_json(page)

    async def export(self, request: web.Request, case_id: str, format: str) -> web.StreamResponse:
        """A case as a file: `json` or `csv`."""
        page = self._case_page(case_id)
        if page is None:
            return error(404, f"no case {case_id}")
        if format == "json":
            body, content_type = export_json(page), "application/json"
        elif format == "csv":
            body, content_type = export_csv(page).encode(), "text/csv"
        else:
            return error(404, f"no export as {format}: json or csv")
        disposition = f'attachment; filename="duanka-case-{case_id}.{format}"'
        return respond(body, content_type, headers={"Content-Disposition": disposition})

    def _case_page(self, case_id: str) -> dict[str, Any] | None:
        links = self.detector.case_links

        def read(alert_id: str) -> tuple[Alert, list[Tie]] | None:
            stored = links.alert(alert_id)
            return None if stored is None else stored.read()

        return case_page(links.linker(), case_id, read, datetime.now(UTC))

    async def find(self, request: web.Request) -> web.StreamResponse:
        """`?q=<id>`: the cases holding an entity with that id."""
        text = request.query.get("q", "").strip()
        if not text:
            return error(400, "?q=<identity, number, account, device or outlet> required")
        return as_json({"q": text, "matches": search(self.detector.case_links.linker(), text)})

    async def dispose(self, request: web.Request, alert_id: str) -> web.StreamResponse:
        """Record the anti-fraud centre's decision on an alert: `{"outcome", "note"}` to
        `dispositions`, refused as the linker would refuse it on the topic."""
        try:
            body = orjson.loads(await request.read())
            disposition = Disposition(
                alert_id=alert_id,
                institution=self.institution,
                outcome=body.get("outcome"),
                note=body.get("note") or None,
                decided_at=datetime.now(UTC),
            )
        except (orjson.JSONDecodeError, AttributeError) as exc:
            return error(400, f'a JSON object {{"outcome", "note"}} expected: {exc}')
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            return error(400, problems)
        refusal = self.detector.case_links.linker().refusal(alert_id, self.institution)
        if refusal is None and alert_id in self.sent:  # not taken yet
            just = f"{self.institution} has just disposed of alert {alert_id}"
            refusal = DecodeError("repeated_disposition", just)
        if refusal is not None:
            status = 404 if refusal.reason == "unknown_alert" else 409
            return error(status, str(refusal), reason=refusal.reason)
        await (await self.dispositions.send(key=alert_id.encode(), value=encode(disposition)))
        self.sent.add(alert_id)
        return as_json({"disposition": disposition.model_dump(mode="json")}, status=202)

    async def entity(self, request: web.Request, kind: str, id: str) -> web.StreamResponse:
        """An entity's state from the query API (a number, identity, account or device), or
        what the alerts say of an outlet or a company."""
        if kind in SUBJECT_KINDS:
            table = self.detector.states[kind].table
            app = self.detector.app
            return await at_owner(app, request, table, id, self._state, kind=kind, id=id)
        if kind in ENTITY_FIELDS:
            return await self.on_linker(self._named)(request, kind=kind, id=id)
        return error(404, f"no entity kind {kind}")

    async def _state(self, request: web.Request, kind: SubjectKind, id: str) -> web.Response:
        described = described_state(self.detector, kind, id)
        return as_json({"kind": kind, "id": id, "state": described})

    async def _named(self, request: web.Request, kind: str, id: str) -> web.Response:
        linker = self.detector.case_links.linker()
        alerts = linker.naming((cast(EntityKind, kind), id))
        return as_json(
            {
                "kind": kind,
                "id": id,
                "state": None,
                "alerts": [{"alert_id": a.alert_id, "rule": a.rule} for a in alerts],
            }
        )


def register(detector: Detector) -> Console:
    """Register the console's routes on the worker's web server."""
    console = Console(detector)
    app = detector.app
    linker = console.on_linker
    guarded = console.guarded
    routes: list[tuple[str, Handler | None, Handler | None]] = [
        ("/console/login", _login_get(console), console.login),
        ("/console/logout", None, console.logout),
        ("/console/", console.page("cases.html"), None),
        ("/console/cases/{case_id}", console.page("case.html"), None),
        ("/console/static/{name}", console.asset, None),
        ("/console/api/cases", guarded(linker(console.cases)), None),
        ("/console/api/cases/{case_id}", guarded(linker(console.case)), None),
        ("/console/api/search", guarded(linker(console.find)), None),
        ("/console/api/entities/{kind}/{id}", guarded(console.entity), None),
        (
            "/console/api/alerts/{alert_id}/dispositions",
            None,
            guarded(linker(console.dispose), changes=True),
        ),
        ("/console/cases/{case_id}/export.{format}", guarded(linker(console.export)), None),
    ]
    for path, get, post in routes:
        app.page(path)(_view(path, get, post))
    return console


def _login_get(console: Console) -> Handler:
    async def login_form(request: web.Request) -> web.StreamResponse:
        if console.session(request) is not None:
            return see_other("/console/")
        return console.login_page(200, target=request.query.get("next"))

    return login_form


def _view(path: str, get: Handler | None, post: Handler | None) -> type[View]:
    """A Faust view answering GET and POST with these handlers."""
    methods: dict[str, Any] = {"__doc__": f"The console's {path}."}
    if get is not None:

        async def do_get(self: View, request: web.Request, **kwargs: str) -> web.StreamResponse:
            return await get(request, **kwargs)

        methods["get"] = do_get
    if post is not None:

        async def do_post(self: View, request: web.Request, **kwargs: str) -> web.StreamResponse:
            return await post(request, **kwargs)

        methods["post"] = do_post
    name = "console" + path.replace("/", "_").replace("{", "").replace("}", "").replace(".", "_")
    return type(name, (View,), methods)


def _same_origin(request: web.Request) -> bool:
    """Whether a change comes from this site: the browser says so in `Sec-Fetch-Site`, and
    its `Origin`, when it sends one, is this host (a request forwarded by another worker
    keeps the browser's `Host`)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    return origin is None or URL(origin).raw_authority == request.host


def _local_console_path(target: str) -> bool:
    return target.startswith("/console/") and not target.startswith("//") and "\\" not in target
