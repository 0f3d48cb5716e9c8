"""HTTP views on the worker's Faust web server: health, readiness and the query API.

`/metrics` is served by the monitor (`monitor`). Health, readiness and metrics stay open;
the query API needs `Authorization: Bearer <token>` with the token from
`DUANKA_API_TOKEN`, and answers from whichever worker holds the key: Faust proxies the
request there, headers included. Cases are all on the case linker's one
partition, so their views go to the worker holding it.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import wraps
from typing import TYPE_CHECKING, Any, cast

from duanka.detector.bundle import partition_of
from duanka.detector.core.clock import from_ms
from duanka.detector.core.describe import describe
from duanka.detector.core.routing import SUBJECT_KINDS
from duanka.schemas.alerts import ENTITY_FIELDS, EntityKind, SubjectKind
from duanka.schemas.cases import Case
from duanka.schemas.codec import encode

if TYPE_CHECKING:
    from duanka.detector.context import Detector

QUERY_PATHS: dict[SubjectKind, str] = {
    "identity": "identities",
    "account": "accounts",
    "device": "devices",
    "msisdn": "msisdns",
}
View = Callable[..., Awaitable[Any]]
CASES_KEY = "cases"
"""Any key routes to the case linker's one partition."""


def register(detector: Detector) -> None:
    """Register `/healthz`, `/readyz` and one query view per subject kind."""
    app = detector.app

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        """Alive: the event loop answers."""
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        """Ready: partitions assigned and every table recovered from its changelog."""
        tables: Any = app.tables
        ready = (
            tables.recovery.completed.is_set()
            and not app.rebalancing
            and not app.in_recovery
            and bool(app.consumer.assignment())
        )
        body = {"status": "ready" if ready else "starting"}
        return web.json(body, status=200 if ready else 503)

    for kind in SUBJECT_KINDS:
        _register_query(detector, kind)
    _register_cases(detector)


def _register_query(detector: Detector, kind: SubjectKind) -> None:
    app, states = detector.app, detector.states[kind]

    @app.page(f"/{QUERY_PATHS[kind]}/{{id}}")
    @_authorized(detector)
    @app.table_route(table=states.table, match_info="id")
    async def subject(web: Any, request: Any, id: str) -> Any:
        """The subject's current state, from the worker that holds it."""
        described = described_state(detector, kind, id)
        if described is None:
            return web.json({"error": f"no state for {kind} {id}"}, status=404)
        return web.json({"kind": kind, "id": id, **described})


def described_state(detector: Detector, kind: SubjectKind, id: str) -> dict[str, Any] | None:
    """A subject's state held by this worker as an analyst reads it (`core.describe`);
    None if it holds none."""
    key = id.encode()
    state = detector.states[kind].get(partition_of(key, detector.settings.partitions), key)
    return None if state is None else describe(kind, state, detector.settings.policy)


def _register_cases(detector: Detector) -> None:
    """The views the case linker answers: cases by id or by entity, and outlets."""
    app, links = detector.app, detector.case_links

    def linker_page(path: str) -> Callable[[View], Any]:
        """A query API page answered by the worker holding the linker's partition."""

        def decorate(view: View) -> Any:
            routed = app.table_route(table=links.table, exact_key=CASES_KEY)(view)
            return app.page(path)(_authorized(detector)(routed))

        return decorate

    def answer(web: Any, record: Case | None, missing: str) -> Any:
        if record is None:
            return web.json({"error": missing}, status=404)
        return web.bytes(encode(record), content_type="application/json")

    @linker_page("/cases/{case_id}")
    async def case(web: Any, request: Any, case_id: str) -> Any:
        """A case by its id: as it stands, or `merged` into the case it is part of now."""
        return answer(web, links.linker().case(case_id, datetime.now(UTC)), f"no case {case_id}")

    @linker_page("/cases")
    async def case_with(web: Any, request: Any) -> Any:
        """The case holding an entity: `?entity=<kind>:<id>`."""
        kind, _, id = request.query.get("entity", "").partition(":")
        if kind not in ENTITY_FIELDS or not id:
            kinds = ", ".join(ENTITY_FIELDS)
            return web.json(
                {"error": f"?entity=<kind>:<id> required, kind one of {kinds}"}, status=400
            )
        record = links.linker().case_with((cast(EntityKind, kind), id), datetime.now(UTC))
        return answer(web, record, f"no case holds {kind} {id}")

    @linker_page("/outlets/{outlet}")
    async def outlet(web: Any, request: Any, outlet: str) -> Any:
        """What the alerts say of a point of sale: those naming it, the identities they are
        about, and their cases."""
        linker = links.linker()
        alerts = linker.naming(("outlet", outlet))
        if not alerts:
            return web.json({"error": f"no alert names outlet {outlet}"}, status=404)
        return web.json(
            {
                "outlet": outlet,
                "alerts": [
                    {"alert_id": a.alert_id, "rule": a.rule, "at": from_ms(a.at).isoformat()}
                    for a in alerts
                ],
                "identities": sorted({a.subject[1] for a in alerts if a.subject[0] == "identity"}),
                "cases": sorted({c for a in alerts if (c := linker.case_of(a.alert_id))}),
            }
        )


def _authorized(detector: Detector) -> Callable[[View], View]:
    """Refuse requests without the configured bearer token (401), and every request when
    no token is configured (503: the API is off)."""
    token = detector.settings.api_token

    def decorate(view: View) -> View:
        @wraps(view)
        async def checked(web: Any, request: Any, **kwargs: Any) -> Any:
            if token is None:
                return web.json(
                    {"error": "the query API is off: DUANKA_API_TOKEN is not set"}, status=503
                )
            expected = f"Bearer {token.get_secret_value()}".encode()
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return web.json(
                    {"error": "Authorization: Bearer <token> required"},
                    status=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return await view(web, request, **kwargs)

        return checked

    return decorate
