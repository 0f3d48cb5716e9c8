"""Applying a subject's events in event-time order when several workers feed its partition.

Which event of a burst crosses a threshold depends on the order the subject sees them, and
replay sees them in event-time order. One worker reads the input partitions it holds merged
by timestamp (`merge`), but with several workers each forwards its own partitions: a
subject-topic partition receives several ordered streams interleaved as they happen to be
written, one of them perhaps a backlog minutes behind in event time (after a rebalance).

`EventOrder` puts one subject-topic partition's events back in order, as Kafka Streams and
Flink do with watermarks. Each origin (input topic partition) delivers in its own order, so
an event can be applied once every origin feeding the partition has passed its time. Readers
report every origin they hold in progress reports written to every partition of the
subject topics; the events themselves report their own origin. An origin no longer holds
an event back when

- its newest forwarded event is at least as late; or
- its reader reported it caught up (everything up to its high watermark forwarded) with a
  high watermark fetched at least `slack` ms after the event was written to its input
  topic: an older event of that origin was written before, so it was below that high
  watermark, and has been forwarded. The time is that of the fetch, not of the report: a
  busy reader fetches a partition only once it has handled what it fetched before, and
  until then believes a high watermark that may be seconds old (with the report's time, a
  worker catching up after a rebalance let events through before older ones it had not
  fetched yet). Readers report every origin they hold whenever a fetch brought news.

A worker giving a partition up sends the events it still holds to the partition's end, behind
later events of their own origins; so a new holder applies nothing (but what waited too
long) until it has read everything written to the partition before it got it.

Watchlist records carry no event time. Their place in a subject's order is their place in
the input as it was written, by Kafka record timestamp, with a lead: a record counts as
written `lead` ms before its timestamp, so it is applied after every event written before
that and before every event written after it. Producers of different topics stamp what
they write a little apart (a tombstone written just before an activation can carry the
later timestamp), and the lead keeps a lifted listing from denying service to someone who
came back just after it was lifted. Written in the order things happened, more than the
lead apart where a tombstone and the same person's event follow each other, that is
replay's order. So an identity partition also counts the watchlist partitions among its
origins, in write time only: an event waits until every watchlist origin has passed the
time it was written (its newest forwarded record written at or after it, or its reader
caught up with a high watermark fetched `slack` ms after), and no record counting as
written before it is still held; a record waits until every event origin has passed the
time it counts as written, and no event written before that is still held.

Reports are only believed from readers of the current consumer-group generation: reports
written before a rebalance, read again after it, tell of an assignment that is gone. An
origin not reported since, and one that holds an event for longer than `max_hold` (its
reader gone, or far behind), no longer holds it back: order is given up before liveness.
Records of an origin report its progress whatever their generation: a newest event time is
a fact.
"""

import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Generic, Literal, NamedTuple, TypeVar

T = TypeVar("T")

Reason = Literal["in_order", "caught_up", "overdue"]
"""Why an event was let go: every origin had passed its time with its own events; some
origin only by its reader's report that it was caught up; it waited too long."""


class OriginProgress(NamedTuple):
    """What a reader reports of one origin: its newest forwarded event time (epoch ms; None
    before the first, and for a watchlist partition), if it has forwarded everything up to
    its high watermark, when that high watermark was fetched (epoch ms; None while it has
    not), and when the newest record it forwarded was written (epoch ms; None before the
    first)."""

    newest: int | None
    caught_up_at: int | None
    written: int | None = None


class _Held(NamedTuple, Generic[T]):
    key: int
    """What it is ordered by: an event's time; for a watchlist record, when it counts as
    written (its write time less the lead)."""
    seq: int
    written: int
    """When it was written to its input topic (epoch ms)."""
    item: T


class EventOrder(Generic[T]):
    """The events and watchlist records of one subject-topic partition, held until they
    can go in order."""

    __slots__ = (
        "_arrivals",
        "_backlog_end",
        "_caught_up_at",
        "_events_written",
        "_generation",
        "_held",
        "_lead",
        "_max_hold",
        "_newest",
        "_origins",
        "_record_origins",
        "_records",
        "_released",
        "_seq",
        "_slack",
        "_unheld",
        "_written",
    )

    def __init__(
        self,
        origins: Iterable[str],
        generation: int,
        max_hold: float,
        slack: int,
        *,
        record_origins: Iterable[str] = (),
        lead: int = 0,
        backlog_end: int | None = None,
        released: Callable[[Reason], None] = lambda reason: None,
    ) -> None:
        self._origins = tuple(sorted(set(origins)))
        """Every origin of events (with an event time) feeding the partition."""
        self._record_origins = tuple(sorted(set(record_origins)))
        """Every origin of watchlist records feeding the partition."""
        self._lead = lead
        """How much earlier than its timestamp a watchlist record counts as written (ms)."""
        self._generation = generation
        self._max_hold = max_hold
        self._slack = slack
        self._backlog_end = backlog_end
        """The partition's end offset when it was taken over (None: read past it)."""
        self._released = released
        """Told why each event is let go (a metric: how often order rests on reports)."""
        self._newest: dict[str, int] = {}
        """Per origin, the newest event time it has brought."""
        self._written: dict[str, int] = {}
        """Per origin, when the newest message it has brought was written."""
        self._caught_up_at: dict[str, int | None] = {}
        """Per origin, its reader's last report in this generation of when it was caught
        up (`OriginProgress.caught_up_at`)."""
        self._held: list[_Held[T]] = []
        """The events, a heap by event time, then arrival."""
        self._records: list[_Held[T]] = []
        """The watchlist records, a heap by when they count as written, then arrival."""
        self._events_written: list[tuple[int, int]] = []
        """(written, seq) of the held events, a heap, kept where watchlist records are held
        too; those in `_unheld` are gone (dropped once at the top, all when nothing is
        held)."""
        self._unheld: set[int] = set()
        self._arrivals: deque[tuple[float, bool, int, int]] = deque()
        """(when, is a record, key, seq) of everything held, in arrival order."""
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._held) + len(self._records)

    def __iter__(self) -> Iterator[T]:
        """The held events and records, in no particular order."""
        return (held.item for held in itertools.chain(self._held, self._records))

    def add(self, item: T, origin: str, at: int, written: int, now: float) -> None:
        """Hold an event of `origin` at event time `at`, written to its input topic at
        `written` (epoch ms), that arrived here at `now` (monotonic s)."""
        self._advance(self._newest, origin, at)
        self._advance(self._written, origin, written)
        seq = next(self._seq)
        heapq.heappush(self._held, _Held(at, seq, written, item))
        if self._record_origins:  # only records wait for the earliest written event
            heapq.heappush(self._events_written, (written, seq))
        self._arrivals.append((now, False, at, seq))

    def add_record(self, item: T, origin: str, written: int, now: float) -> None:
        """Hold a watchlist record of `origin`, written to its topic at `written` (epoch
        ms), that arrived here at `now` (monotonic s)."""
        self._advance(self._written, origin, written)
        seq = next(self._seq)
        counts_as = written - self._lead
        heapq.heappush(self._records, _Held(counts_as, seq, written, item))
        self._arrivals.append((now, True, counts_as, seq))

    def read(self, offset: int) -> None:
        """The partition's message at `offset` (event, report or other) has been read."""
        if self._backlog_end is not None and offset + 1 >= self._backlog_end:
            self._backlog_end = None

    def report(self, generation: int, origins: Mapping[str, OriginProgress]) -> None:
        """Take a reader's progress report, written in consumer-group `generation`."""
        current = generation >= self._generation
        for origin, progress in origins.items():
            if progress.newest is not None:
                self._advance(self._newest, origin, progress.newest)
            if progress.written is not None:
                self._advance(self._written, origin, progress.written)
            if current:
                self._caught_up_at[origin] = progress.caught_up_at

    def ready(self, now: float) -> list[T]:
        """The held events and records that can be applied now, in order: a record whenever
        one can go, else an event."""
        overdue_events, overdue_records = self._overdue(now)
        released = []
        while True:
            if reason := _releasable(self._records, self._record_passing, overdue_records):
                released.append(heapq.heappop(self._records).item)
            elif reason := _releasable(self._held, self._event_passing, overdue_events):
                released.append(self._pop_event().item)
            else:
                return released
            self._released(reason)

    def drain(self) -> list[T]:
        """Every held event in event-time order, then every watchlist record in write-time
        order (the partition is being given up)."""
        held = [
            heapq.heappop(heap).item
            for heap in (self._held, self._records)
            for _ in range(len(heap))
        ]
        self._events_written.clear()
        self._unheld.clear()
        self._arrivals.clear()
        return held

    @staticmethod
    def _advance(newest: dict[str, int], origin: str, at: int) -> None:
        if at > newest.get(origin, -1):
            newest[origin] = at

    def _pop_event(self) -> _Held[T]:
        event = heapq.heappop(self._held)
        if not self._held:
            self._events_written.clear()
            self._unheld.clear()
        elif self._record_origins:
            self._unheld.add(event.seq)
            self._oldest_event_written()  # drops what is gone from its top
        return event

    def _oldest_event_written(self) -> int | None:
        """When the earliest written of the held events was written."""
        heap = self._events_written
        while heap and heap[0][1] in self._unheld:
            self._unheld.discard(heapq.heappop(heap)[1])
        return heap[0][0] if heap else None

    def _event_passing(self, held: _Held[T]) -> Reason | None:
        """Whether every origin has passed a held event: if so, how surely; None if some
        origin has not, or a watchlist record written before it is still held."""
        if self._backlog_end is not None:
            return None
        if self._records and self._records[0].key <= held.written:
            return None
        reason: Reason = "in_order"
        for origin in self._origins:
            if self._newest.get(origin, -1) >= held.key:
                continue
            if not self._caught_up_past(origin, held.written):
                return None
            reason = "caught_up"
        return self._passed_in_write_time(self._record_origins, held.written, reason)

    def _record_passing(self, held: _Held[T]) -> Reason | None:
        """Whether every origin of events has passed the time a held watchlist record counts
        as written, and no event written before that is still held."""
        if self._backlog_end is not None:
            return None
        oldest = self._oldest_event_written()
        if oldest is not None and oldest < held.key:
            return None
        return self._passed_in_write_time(self._origins, held.key, "in_order")

    def _passed_in_write_time(
        self, origins: Iterable[str], written: int, reason: Reason
    ) -> Reason | None:
        """Whether `origins` have brought everything written before `written`."""
        for origin in origins:
            if self._written.get(origin, -1) >= written:
                continue
            if not self._caught_up_past(origin, written):
                return None
            reason = "caught_up"
        return reason

    def _caught_up_past(self, origin: str, written: int) -> bool:
        """Whether the origin's reader was caught up with a high watermark fetched at least
        `slack` ms after `written`."""
        caught_up_at = self._caught_up_at.get(origin)
        return caught_up_at is not None and caught_up_at >= written + self._slack

    def _overdue(self, now: float) -> tuple[tuple[float, float], tuple[float, float]]:
        """The (event time, seq) up to which events, and the (counted write time, seq) up to
        which records, are released for having waited too long: the latest of those held
        `max_hold` or more, so that order is kept among the rest."""
        events: tuple[float, float] = (-math.inf, -math.inf)
        records: tuple[float, float] = (-math.inf, -math.inf)
        while self._arrivals and now - self._arrivals[0][0] >= self._max_hold:
            _, is_record, key, seq = self._arrivals.popleft()
            if is_record:
                records = max(records, (key, seq))
            else:
                events = max(events, (key, seq))
        return events, records


def _releasable(
    heap: list[_Held[T]],
    passing: Callable[[_Held[T]], Reason | None],
    overdue: tuple[float, float],
) -> Reason | None:
    """Why the first of `heap` can go: passed, or waited too long; None if it cannot, or
    nothing is held."""
    if not heap:
        return None
    head = heap[0]
    return passing(head) or ("overdue" if head[:2] <= overdue else None)
