"""Event-time horizons for forgetting subjects that went quiet.

A subject's records are trimmed whenever one of its own events arrives; a subject that never
returns would keep them for ever. The contract measures expiry against the newest event time
seen on the partition: once every stream of the partition has moved on past a subject's
windows plus the allowed lateness, nothing that can still arrive in time would count its
records, and the subject is trimmed or deleted (`Engine.expire`). Horizons are kept per
stream because the input topics may be read at different paces while a backlog is consumed.
"""

from collections.abc import Mapping

from schemas.events import AccountOpen, SimActivation, Transfer
from services.detector.core.clock import to_ms
from services.detector.core.intake import Admitted


class Horizons:
    """Per partition and stream, the newest event time seen (epoch ms)."""

    __slots__ = ("_newest",)

    def __init__(self) -> None:
        self._newest: dict[int, dict[str, int]] = {}

    def observe(self, partition: int, stream: str, event: Admitted) -> None:
        """Advance the partition's stream to the event's time (watchlist records have none)."""
        if not isinstance(event, SimActivation | AccountOpen | Transfer):
            return
        at = to_ms(event.occurred_at)
        streams = self._newest.setdefault(partition, {})
        if at > streams.get(stream, at - 1):
            streams[stream] = at

    def of(self, partition: int) -> Mapping[str, int]:
        """The partition's horizons; empty until it has seen an event."""
        return self._newest.get(partition, {})

    def highest(self) -> dict[str, int]:
        """Per stream, the newest event time on any partition: no partition is further."""
        highest: dict[str, int] = {}
        for streams in self._newest.values():
            for stream, at in streams.items():
                highest[stream] = max(at, highest.get(stream, at))
        return highest
