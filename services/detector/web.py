"""HTTP views on the worker's Faust web server: liveness and readiness."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.detector.app import Detector


def register(detector: Detector) -> None:
    """Register `/healthz` and `/readyz`."""
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
