"""HTTP views on the worker's Faust web server: health, readiness and the query API.

`/metrics` is registered with Faust's Prometheus sensor (`app.create_detector`). Health,
readiness and metrics stay open; the query API needs `Authorization: Bearer <token>` with
the token from `DUANKA_API_TOKEN`, and answers from whichever worker holds the key: Faust
proxies the request there, headers included.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from schemas.alerts import SubjectKind
from services.detector.bundle import partition_of
from services.detector.core.describe import describe
from services.detector.core.routing import SUBJECT_KINDS

if TYPE_CHECKING:
    from services.detector.context import Detector

QUERY_PATHS: dict[SubjectKind, str] = {
    "identity": "identities",
    "account": "accounts",
    "device": "devices",
    "msisdn": "msisdns",
}
View = Callable[..., Awaitable[Any]]


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


def _register_query(detector: Detector, kind: SubjectKind) -> None:
    app, states = detector.app, detector.states[kind]

    @app.page(f"/{QUERY_PATHS[kind]}/{{id}}")
    @_authorized(detector)
    @app.table_route(table=states.table, match_info="id")
    async def subject(web: Any, request: Any, id: str) -> Any:
        """The subject's current state, from the worker that holds it."""
        key = id.encode()
        state = states.get(partition_of(key, detector.settings.partitions), key)
        if state is None:
            return web.json({"error": f"no state for {kind} {id}"}, status=404)
        described = describe(kind, state, detector.settings.policy)
        return web.json({"kind": kind, "id": id, **described})


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
