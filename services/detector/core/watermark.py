"""Event-time watermarks: how far the input of one stream of subject events has surely come.

A subject's records are kept only while an event still in time could count them. Which
events are still to come depends on the input they are read from, not on the subject: the
worker's subject topics are fed by every partition of the input topics, and while a backlog
is consumed those partitions are read at different paces, days apart in event time. Each
origin (input topic partition) delivers in its own order, so the watermark of a stream of
subject events (one subject-topic partition in the worker, replay's single sequence) is,
for a subject kind, the oldest of the newest event times of the origins feeding it: nothing
at least `allowed_lateness` older than that can still be in time, whatever origin it comes
from.

Until every partition of the topics feeding a kind has delivered something, its watermark
is unknown: a partition not read yet may still bring old events. An origin that stops
delivering (a partition drained, or no longer produced to) would hold the watermark back for
ever, so it stops counting once `idle_after` messages have passed without one from it, and
after that many messages a partition that never delivered no longer keeps it unknown.
"""

from collections import Counter
from collections.abc import Mapping

from schemas.alerts import SubjectKind
from schemas.events import AccountOpen, InputEvent, SimActivation, Transfer
from services.detector.core.clock import to_ms
from services.detector.core.intake import Admitted, InputTopic, WatchlistUpdate

FEEDING_TOPICS: dict[SubjectKind, tuple[InputTopic, ...]] = {
    "identity": ("sim-activations", "account-opens"),
    "account": ("account-opens", "transfers"),
    "device": ("sim-activations", "account-opens"),
    "msisdn": ("sim-activations", "account-opens"),
}
"""The topics whose events a subject kind records (watchlist records carry no event time)."""
UNTIMED_TOPICS: dict[SubjectKind, tuple[InputTopic, ...]] = {"identity": ("watchlist",)}
"""The topics whose records a subject kind applies without an event time: they take their
place among its events by the time they were written (`ordering`)."""
TOPIC_OF: dict[type, InputTopic] = {
    SimActivation: "sim-activations",
    AccountOpen: "account-opens",
    Transfer: "transfers",
    WatchlistUpdate: "watchlist",
}
IDLE_AFTER = 100_000
"""Messages without one from an origin after which it no longer holds the watermark back.
Far more than pass between two fetches of a partition that still has a backlog."""


def event_time(event: Admitted) -> int | None:
    """An event's time (epoch ms); None for a watchlist record, which carries none."""
    return to_ms(event.occurred_at) if isinstance(event, InputEvent) else None


def origin_of(topic: str, partition: int) -> str:
    """The name of an input topic partition, as subject states key their lateness by it."""
    return f"{topic}/{partition}"


def topic_origin(event: Admitted, partition: int = 0) -> str:
    """The origin of an event read from `partition` of its topic (replay reads each topic as
    its only partition)."""
    return origin_of(TOPIC_OF[type(event)], partition)


class Watermark:
    """The event-time watermark of one stream of subject events: one partition of a subject
    topic in the worker (of one kind), or replay's single sequence (of every kind)."""

    __slots__ = ("_delivered", "_idle_after", "_origins", "_partitions", "_seen", "_values")

    def __init__(
        self, partitions: Mapping[str, int] | None = None, idle_after: int = IDLE_AFTER
    ) -> None:
        self._partitions = partitions or {}
        """Per input topic, how many partitions it has (one when not given, as replay reads
        each topic)."""
        self._idle_after = idle_after
        self._origins: dict[tuple[str, int], tuple[int, int]] = {}
        """Per origin, its newest event time and the number of the last message from it."""
        self._seen = 0
        self._delivered: Counter[str] = Counter()
        """Per topic, how many of its partitions have delivered."""
        self._values: dict[SubjectKind, int | None] = {}
        """Per kind, the value since the last message."""

    def observe(self, event: Admitted, partition: int = 0) -> None:
        """Count one message read from `partition` of the event's topic. Watchlist records
        carry no event time and do not count."""
        at = event_time(event)
        if at is None:
            return
        self._seen += 1
        origin = (TOPIC_OF[type(event)], partition)
        known = self._origins.get(origin)
        if known is None:
            self._delivered[origin[0]] += 1
        newest = at if known is None or at > known[0] else known[0]
        self._origins[origin] = (newest, self._seen)
        self._values.clear()

    def value(self, kind: SubjectKind) -> int | None:
        """The watermark (epoch ms) for subjects of `kind`, from the origins of the topics
        feeding it; None while it is not known."""
        if kind not in self._values:
            self._values[kind] = self._compute(FEEDING_TOPICS[kind])
        return self._values[kind]

    def _compute(self, feeding: tuple[str, ...]) -> int | None:
        if self._seen < self._idle_after and any(
            self._delivered[t] < self._partitions.get(t, 1) for t in feeding
        ):
            return None  # no origin can be idle yet, and one has not delivered
        live = [
            newest
            for (topic, _), (newest, last) in self._origins.items()
            if topic in feeding and self._seen - last < self._idle_after
        ]
        return min(live) if live else None
