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

import heapq
from collections import Counter
from collections.abc import Mapping

from duanka.detector.core.clock import to_ms
from duanka.detector.core.intake import (
    Admitted,
    Appeal,
    Confirmation,
    InputTopic,
    WatchlistUpdate,
)
from duanka.schemas.alerts import SubjectKind
from duanka.schemas.dispositions import Disposition
from duanka.schemas.events import AccountOpen, SimActivation, Transfer

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
LINKED_TOPICS: dict[SubjectKind, tuple[InputTopic, ...]] = {
    "identity": ("dispositions",),
    "account": ("dispositions",),
}
"""The topics whose records reach a subject kind by way of the case linker (what a
disposition does): in order by when they were decided, the linker relaying how far it has
come in each partition."""
TOPIC_OF: dict[type, InputTopic] = {
    SimActivation: "sim-activations",
    AccountOpen: "account-opens",
    Transfer: "transfers",
    WatchlistUpdate: "watchlist",
    Disposition: "dispositions",
    Confirmation: "dispositions",
    Appeal: "dispositions",
}
FED_BY: dict[InputTopic, tuple[SubjectKind, ...]] = {
    topic: tuple(kind for kind, topics in FEEDING_TOPICS.items() if topic in topics)
    for topic in TOPIC_OF.values()
}
"""Per input topic, the subject kinds whose watermark its events move."""
IDLE_AFTER = 100_000
"""Messages without one from an origin after which it no longer holds the watermark back.
Far more than pass between two fetches of a partition that still has a backlog."""


def event_time(event: Admitted) -> int | None:
    """An event's time (epoch ms); None for a watchlist record, a disposition and what it
    derives, which do not move a watermark."""
    if isinstance(event, SimActivation | AccountOpen | Transfer):
        return to_ms(event.occurred_at)
    return None


def order_time(event: Admitted) -> int | None:
    """The time an event takes its place by in a subject's order (epoch ms): its event time,
    or for what the case linker sends of a disposition, when it was decided; None for a
    watchlist record, placed by when it was written."""
    if isinstance(event, Disposition | Confirmation | Appeal):
        return to_ms(event.decided_at)
    return event_time(event)


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

    __slots__ = (
        "_delivered",
        "_idle_after",
        "_origins",
        "_partitions",
        "_seen",
        "_stale_at",
        "_values",
    )

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
        """Per kind, the value as last computed, while no message has changed it."""
        self._stale_at = 0
        """The message number from which some value kept may be stale because an origin
        went idle (or a partition that never delivered stopped counting)."""

    def observe(self, event: Admitted, partition: int = 0) -> None:
        """Count one message read from `partition` of the event's topic. Watchlist records
        carry no event time and do not count. A value kept stays while the message cannot
        have changed it: an origin that was not the oldest moving on."""
        at = event_time(event)
        if at is not None:
            self.count(TOPIC_OF[type(event)], partition, at)

    def count(self, topic: InputTopic, partition: int, at: int) -> None:
        """Count one event of time `at` read from `partition` of `topic` (`observe`)."""
        seen = self._seen = self._seen + 1
        origin = (topic, partition)
        known = self._origins.get(origin)
        if known is None:
            self._delivered[topic] += 1
            self._origins[origin] = (at, seen)
            self._values.clear()
            return
        newest, last = known
        if at > newest:
            self._origins[origin] = (at, seen)
            values = self._values
            for kind in FED_BY[topic]:
                if kind in values:
                    value = values[kind]
                    if value is None or value >= newest:
                        del values[kind]
        else:
            self._origins[origin] = (newest, seen)
            if seen - last >= self._idle_after:  # an idle origin counts again
                for kind in FED_BY[topic]:
                    self._values.pop(kind, None)
        if seen >= self._stale_at:
            self._values.clear()

    def value(self, kind: SubjectKind) -> int | None:
        """The watermark (epoch ms) for subjects of `kind`, from the origins of the topics
        feeding it; None while it is not known."""
        values = self._values
        if kind not in values:
            if not values:
                self._stale_at = self._seen + self._idle_after
            values[kind] = self._compute(FEEDING_TOPICS[kind])
        return values[kind]

    def _compute(self, feeding: tuple[str, ...]) -> int | None:
        seen, idle_after = self._seen, self._idle_after
        if seen < idle_after and any(
            self._delivered[t] < self._partitions.get(t, 1) for t in feeding
        ):
            self._stale_at = min(self._stale_at, idle_after)
            return None  # no origin can be idle yet, and one has not delivered
        live = []
        for (topic, _), (newest, last) in self._origins.items():
            if topic in feeding and seen - last < idle_after:
                live.append(newest)
                self._stale_at = min(self._stale_at, last + idle_after)
        return min(live) if live else None


class CommittedWatermark:
    """The watermark of a worker's subject partition, counting an applied event only once
    the partition's commit has passed the message that brought it.

    Events applied after the commit are read again after a crash or a rebalance, and are
    recognised by their records in their subjects' states; what is forgotten against this
    watermark cannot be one of them. An event read again comes from an origin whose events
    before the commit all came before it, so none of them is newer than it: the watermark
    stays at or behind its time, and forgetting keeps its records (`Engine._settle` keeps
    a window and the lateness behind the watermark). Against the plain watermark, a
    partition whose commit stays behind an event held for a long time (in a backlog, an
    origin far ahead of another) would forget records of events it then reads again, and
    count them anew. Forgetting later changes no alert: only what no event still in time
    can count is forgotten."""

    __slots__ = ("_counted", "_seq", "_waiting")

    def __init__(self, partitions: Mapping[str, int], idle_after: int = IDLE_AFTER) -> None:
        self._counted = Watermark(partitions, idle_after)
        self._waiting: list[tuple[int, int, InputTopic, int, int]] = []
        """(offset of the message, sequence, topic, partition, event time) of the events
        applied and not committed yet, by offset."""
        self._seq = 0

    def observe(self, topic: InputTopic, at: int | None, partition: int, offset: int) -> None:
        """An event of time `at` (`event_time`: None for what moves no watermark) read from
        `partition` of `topic`, brought by the message at `offset` of the subject
        partition, is applied."""
        if at is not None:
            self._seq += 1
            item = (offset, self._seq, topic, partition, at)
            heapq.heappush(self._waiting, item)

    def committed(self, offset: int | None) -> None:
        """The partition's commit has reached `offset` (None: not known): every event
        applied from messages before it counts."""
        if offset is None:
            return
        waiting = self._waiting
        while waiting and waiting[0][0] < offset:
            _, _, topic, partition, at = heapq.heappop(waiting)
            self._counted.count(topic, partition, at)

    def value(self, kind: SubjectKind) -> int | None:
        """The watermark (epoch ms) of what the commit has passed, for subjects of `kind`."""
        return self._counted.value(kind)
