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
    before the first), and if it has forwarded everything up to its high watermark, when
    that high watermark was fetched (epoch ms; None while it has not)."""

    newest: int | None
    caught_up_at: int | None


class _Held(NamedTuple, Generic[T]):
    at: int
    seq: int
    written: int
    """When the event was written to its input topic (epoch ms)."""
    item: T


class EventOrder(Generic[T]):
    """The events of one subject-topic partition, held until they can go in time order."""

    __slots__ = (
        "_arrivals",
        "_backlog_end",
        "_caught_up_at",
        "_generation",
        "_held",
        "_max_hold",
        "_newest",
        "_origins",
        "_released",
        "_seq",
        "_slack",
    )

    def __init__(
        self,
        origins: Iterable[str],
        generation: int,
        max_hold: float,
        slack: int,
        *,
        backlog_end: int | None = None,
        released: Callable[[Reason], None] = lambda reason: None,
    ) -> None:
        self._origins = tuple(sorted(set(origins)))
        """Every origin feeding the partition."""
        self._generation = generation
        self._max_hold = max_hold
        self._slack = slack
        self._backlog_end = backlog_end
        """The partition's end offset when it was taken over (None: read past it)."""
        self._released = released
        """Told why each event is let go (a metric: how often order rests on reports)."""
        self._newest: dict[str, int] = {}
        self._caught_up_at: dict[str, int | None] = {}
        """Per origin, its reader's last report in this generation of when it was caught
        up (`OriginProgress.caught_up_at`)."""
        self._held: list[_Held[T]] = []
        """A heap by event time, then arrival."""
        self._arrivals: deque[tuple[float, int, int]] = deque()
        """(when, event time, seq) of the held events, in arrival order."""
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._held)

    def __iter__(self) -> Iterator[T]:
        """The held events, in no particular order."""
        return (held.item for held in self._held)

    def add(self, item: T, origin: str, at: int, written: int, now: float) -> None:
        """Hold an event of `origin` at event time `at`, written to its input topic at
        `written` (epoch ms), that arrived here at `now` (monotonic s)."""
        self._advance(origin, at)
        seq = next(self._seq)
        heapq.heappush(self._held, _Held(at, seq, written, item))
        self._arrivals.append((now, at, seq))

    def read(self, offset: int) -> None:
        """The partition's message at `offset` (event, report or other) has been read."""
        if self._backlog_end is not None and offset + 1 >= self._backlog_end:
            self._backlog_end = None

    def report(self, generation: int, origins: Mapping[str, OriginProgress]) -> None:
        """Take a reader's progress report, written in consumer-group `generation`."""
        current = generation >= self._generation
        for origin, progress in origins.items():
            if progress.newest is not None:
                self._advance(origin, progress.newest)
            if current:
                self._caught_up_at[origin] = progress.caught_up_at

    def ready(self, now: float) -> list[T]:
        """The held events that can be applied now, in event-time order."""
        overdue = self._overdue(now)
        released = []
        while self._held:
            reason = None if self._backlog_end is not None else self._passing(self._held[0])
            if reason is None and self._held[0][:2] <= overdue:
                reason = "overdue"
            if reason is None:
                break
            released.append(heapq.heappop(self._held).item)
            self._released(reason)
        return released

    def drain(self) -> list[T]:
        """Every held event, in event-time order (the partition is being given up)."""
        released = [heapq.heappop(self._held).item for _ in range(len(self._held))]
        self._arrivals.clear()
        return released

    def _advance(self, origin: str, at: int) -> None:
        if at > self._newest.get(origin, -1):
            self._newest[origin] = at

    def _passing(self, held: _Held[T]) -> Reason | None:
        """Whether every origin has passed a held event: if so, how surely; None if some
        origin has not."""
        reason: Reason = "in_order"
        for origin in self._origins:
            if self._newest.get(origin, -1) >= held.at:
                continue
            caught_up_at = self._caught_up_at.get(origin)
            if caught_up_at is None or caught_up_at < held.written + self._slack:
                return None
            reason = "caught_up"
        return reason

    def _overdue(self, now: float) -> tuple[float, float]:
        """The (event time, seq) up to which events are released for having waited too long:
        the latest of those held `max_hold` or more, so that order is kept among the rest."""
        overdue: tuple[float, float] = (-math.inf, -math.inf)
        while self._arrivals and now - self._arrivals[0][0] >= self._max_hold:
            _, at, seq = self._arrivals.popleft()
            overdue = max(overdue, (at, seq))
        return overdue
