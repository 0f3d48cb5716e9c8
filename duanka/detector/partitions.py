"""What a worker keeps per subject-topic partition it holds: the events waiting there for
their turn in event-time order (`core.ordering`), and the partition's watermark.

Both live in memory, and are made afresh when a partition is assigned again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from faust.types import TP

from duanka.detector.bundle import Forward
from duanka.detector.core.disposition_gate import Position
from duanka.detector.core.intake import INPUT_TOPICS
from duanka.detector.core.ordering import EventOrder, Reason
from duanka.detector.core.routing import SUBJECT_KINDS
from duanka.detector.core.watermark import (
    FEEDING_TOPICS,
    LINKED_TOPICS,
    UNTIMED_TOPICS,
    CommittedWatermark,
    origin_of,
)
from duanka.detector.patches.consumer_state import committed, known_hole
from duanka.schemas.alerts import SubjectKind
from duanka.settings import Settings
from duanka.topics import subject_events_topic

T = TypeVar("T")

WRITE_SLACK_MS = 500
"""How far apart in write time producers may put events of the same event time
(`core.ordering`): an event written more than this after another is taken as no older. It
covers producers of different topics that stamp and send what they write a little apart
(one stream split over one producer per topic, each batching), and records one producer
retries. An assumption about producers, not a wait: events whose origins bring newer
events go at once, and a quiet origin is passed by its markers (`progress`)."""
WATCHLIST_LEAD_MS = 500
"""How much earlier than its record timestamp a watchlist record counts as written, in an
identity's order (`core.ordering`). One producer per input topic, each fed from one stream
in order, stamped tombstones up to 300 ms after activations written after them here, in a
backlog loaded at full speed."""
MARKER_REACH_MS = max(WRITE_SLACK_MS, WATCHLIST_LEAD_MS) + 1
"""How far past the latest record known every input partition must be read for no event to
wait on it any more (`progress`)."""


class Delivery:
    """A subject-topic message as Faust delivered it, acknowledged once each event it
    brought has been applied, dead-lettered or sent on."""

    __slots__ = ("event", "left")

    def __init__(self, event: Any, events: int) -> None:
        self.event = event
        self.left = events
        if events == 0:
            event.ack()

    def done(self) -> None:
        """One of its events is finished with."""
        self.left -= 1
        if self.left == 0:
            self.event.ack()


@dataclass(frozen=True, slots=True)
class Pending:
    """A subject event waiting for its turn: the message it came in, and the event as
    forwarded to the subject."""

    delivery: Delivery
    forward: Forward


class SubjectPartitions:
    """Per subject kind and partition of its topic held here: the events waiting for their
    turn, and how far its input has surely come in event time (for forgetting what no event
    can count any more)."""

    def __init__(self, app: Any, settings: Settings, released: Callable[[str], None]) -> None:
        self.app = app
        self.settings = settings
        self.released = released
        """Counts an event let go, by why (`EventOrder`)."""
        self.watermarks: dict[tuple[SubjectKind, int], CommittedWatermark] = {}
        self.orders: dict[tuple[SubjectKind, int], EventOrder[Pending]] = {}
        self.awaited: dict[tuple[SubjectKind, int], dict[str, Position]] = {}
        """Per partition, the dispositions the case linker awaits its answer about
        (`core.disposition_gate`), by origin: not answered yet."""
        self.forgotten_in: int | None = None
        """The rebalance (Faust's `rebalancing_count`) whose revoked partitions were last
        forgotten (`forget`)."""

    def giving_up(self) -> bool:
        """Whether the partitions held are being given up: the worker is stopping, or a
        rebalance has begun and its revoked partitions are not forgotten yet. Events then
        go back to the end of their partitions instead of being applied (`subjects`).
        Later in the same rebalance, once the new assignment is recovered, Faust hands
        over records of the partitions assigned before it has finished seeking them; it
        does not read those again, so they must be applied as usual."""
        app = self.app
        return bool(app.should_stop) or (
            bool(app.rebalancing) and self.forgotten_in != app.rebalancing_count
        )

    def watermark(self, kind: SubjectKind, partition: int) -> CommittedWatermark:
        """The watermark of a partition of `kind`'s subject topic, up to its commit as the
        consumer knows it now."""
        watermark = self.watermarks.get((kind, partition))
        if watermark is None:
            watermark = CommittedWatermark(self._input_partitions())
            self.watermarks[(kind, partition)] = watermark
        tp = TP(subject_events_topic(self.settings, kind), partition)
        watermark.committed(committed(self.app.consumer, tp))
        return watermark

    def order(self, kind: SubjectKind, partition: int) -> EventOrder[Pending]:
        """The order of a partition of `kind`'s subject topic (`new_order`), counting reads
        from the partition's committed offset."""
        order = self.orders.get((kind, partition))
        if order is None:
            tp = TP(subject_events_topic(self.settings, kind), partition)
            consumer = self.app.consumer
            order = self.orders[(kind, partition)] = new_order(
                kind,
                self._input_partitions(),
                self.released,
                committed(consumer, tp),
                partial(known_hole, consumer, tp),
            )
        return order

    def holds(self, tp: TP, offset: int) -> bool:
        """Whether the message at `offset` of `tp` is a subject event held for its turn (so
        not acknowledged yet, and not lost)."""
        kind = subject_kind(self.settings, tp.topic)
        order = None if kind is None else self.orders.get((kind, tp.partition))
        return order is not None and any(p.delivery.event.message.offset == offset for p in order)

    def await_answers(
        self, kind: SubjectKind, partition: int, awaiting: Mapping[str, Position]
    ) -> None:
        """The case linker asks again about the dispositions it awaits."""
        if awaiting:
            self.awaited[(kind, partition)] = dict(awaiting)

    def answers(self, kind: SubjectKind, partition: int) -> dict[str, Position]:
        """Take the dispositions awaited that the partition's order has reached: everything
        before them is applied, and nothing before them can still arrive."""
        awaited = self.awaited.get((kind, partition))
        order = self.orders.get((kind, partition))
        return {} if not awaited or order is None else answers(order, awaited)

    def _input_partitions(self) -> dict[str, int]:
        """Per input topic, its partition count as the consumer knows it (the configured
        count until it does)."""
        return {
            topic: self.app.consumer.topic_partitions(self.settings.topic(topic))
            or self.settings.partitions
            for topic in INPUT_TOPICS
        }

    def oldest_watermark(self, kind: SubjectKind) -> int | None:
        """The oldest watermark of `kind`'s partitions held here; None unless all are known:
        what is settled against it is settled on every partition."""
        held = [p for k, p in self.watermarks if k == kind]
        values = [self.watermark(kind, p).value(kind) for p in held]
        known = [v for v in values if v is not None]
        return min(known) if known and len(known) == len(values) else None

    def forget(self, kind: SubjectKind, partition: int) -> None:
        """A partition handed to another worker is tracked afresh if it comes back."""
        self.watermarks.pop((kind, partition), None)
        self.orders.pop((kind, partition), None)
        self.awaited.pop((kind, partition), None)

    def forgotten(self) -> None:
        """Every partition revoked in this rebalance is forgotten: what arrives from now on
        belongs to the new assignment."""
        self.forgotten_in = self.app.rebalancing_count


def new_order(
    kind: SubjectKind,
    partitions: Mapping[str, int],
    released: Callable[[Reason], None],
    start: int | None = None,
    hole: Callable[[int], bool] = lambda offset: False,
) -> EventOrder[T]:
    """The order of a partition of `kind`'s subject topic, given each input topic's
    partition count: fed by every partition of the topics feeding the kind and of those
    whose dispositions reach it through the case linker (and, in write time, of the
    watchlist for identities)."""

    def origins(topics: tuple[str, ...]) -> list[str]:
        return [origin_of(topic, p) for topic in topics for p in range(partitions[topic])]

    linked = origins(LINKED_TOPICS.get(kind, ()))
    return EventOrder(
        origins(FEEDING_TOPICS[kind]) + linked,
        WRITE_SLACK_MS,
        record_origins=origins(UNTIMED_TOPICS.get(kind, ())),
        relayed=linked,
        lead=WATCHLIST_LEAD_MS,
        start=start,
        hole=hole,
        released=released,
    )


def hold(order: EventOrder[T], item: T, forward: Forward) -> None:
    """Hold `item`, which brings `forward`, in `order`: an event by its event time, a
    disposition the case linker offers by when it was decided, a watchlist record by when
    it was written."""
    origin = origin_of(forward.topic, forward.partition)
    at = forward.at
    if at is None:
        order.add_record(item, origin, forward.offset, forward.written)
    else:
        order.add(item, origin, forward.offset, at, forward.written)


def answers(order: EventOrder[T], awaited: dict[str, Position]) -> dict[str, Position]:
    """Take from `awaited` the dispositions `order` has reached: everything before them is
    let go, and nothing before them can still arrive (`core.disposition_gate`)."""
    reached = {
        origin: position
        for origin, position in awaited.items()
        if order.reached(origin, position.at, position.written, position.offset)
    }
    for origin in reached:
        del awaited[origin]
    return reached


def subject_kind(settings: Settings, topic: str) -> SubjectKind | None:
    """The subject kind whose events `topic` carries; None for other topics."""
    for kind in SUBJECT_KINDS:
        if subject_events_topic(settings, kind) == topic:
            return kind
    return None
