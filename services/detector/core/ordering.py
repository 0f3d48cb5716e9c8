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
- its reader reported it caught up (everything up to its high watermark forwarded) in a
  report written at least `slack` ms after the event was written to its input topic: an
  older event of that origin would have been written before, so fetched and forwarded; or
- its reader reported it quiet: caught up, and nothing new for a while. Only an event
  written just as a quiet origin wakes up can then be applied out of order.

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
from collections.abc import Iterable, Mapping
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")


class OriginProgress(NamedTuple):
    """What a reader reports of one origin: its newest forwarded event time (epoch ms; None
    before the first), whether everything read from it has been forwarded, and whether
    it has also brought nothing new for a while."""

    newest: int | None
    caught_up: bool
    quiet: bool = False


class _Report(NamedTuple):
    """An origin's last caught-up state, and when its report was written (epoch ms)."""

    caught_up: bool
    quiet: bool
    written: int


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
        "_generation",
        "_held",
        "_max_hold",
        "_newest",
        "_origins",
        "_reports",
        "_seq",
        "_slack",
    )

    def __init__(
        self, origins: Iterable[str], generation: int, max_hold: float, slack: int
    ) -> None:
        self._origins = tuple(sorted(set(origins)))
        """Every origin feeding the partition."""
        self._generation = generation
        self._max_hold = max_hold
        self._slack = slack
        self._newest: dict[str, int] = {}
        self._reports: dict[str, _Report] = {}
        """Per origin, its reader's last report in this generation."""
        self._held: list[_Held[T]] = []
        """A heap by event time, then arrival."""
        self._arrivals: deque[tuple[float, int, int]] = deque()
        """(when, event time, seq) of the held events, in arrival order."""
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._held)

    def add(self, item: T, origin: str, at: int, written: int, now: float) -> None:
        """Hold an event of `origin` at event time `at`, written to its input topic at
        `written` (epoch ms), that arrived here at `now` (monotonic s)."""
        self._advance(origin, at)
        seq = next(self._seq)
        heapq.heappush(self._held, _Held(at, seq, written, item))
        self._arrivals.append((now, at, seq))

    def report(self, generation: int, written: int, origins: Mapping[str, OriginProgress]) -> None:
        """Take a reader's progress report, written at `written` (epoch ms) in
        consumer-group `generation`."""
        current = generation >= self._generation
        for origin, progress in origins.items():
            if progress.newest is not None:
                self._advance(origin, progress.newest)
            if current:
                self._reports[origin] = _Report(progress.caught_up, progress.quiet, written)

    def ready(self, now: float) -> list[T]:
        """The held events that can be applied now, in event-time order."""
        overdue = self._overdue(now)
        released = []
        while self._held and (self._held[0][:2] <= overdue or self._passed(self._held[0])):
            released.append(heapq.heappop(self._held).item)
        return released

    def drain(self) -> list[T]:
        """Every held event, in event-time order (the partition is being given up)."""
        released = [heapq.heappop(self._held).item for _ in range(len(self._held))]
        self._arrivals.clear()
        return released

    def _advance(self, origin: str, at: int) -> None:
        if at > self._newest.get(origin, -1):
            self._newest[origin] = at

    def _passed(self, held: _Held[T]) -> bool:
        """Whether every origin has passed a held event."""
        for origin in self._origins:
            if self._newest.get(origin, -1) >= held.at:
                continue
            report = self._reports.get(origin)
            if report is None or not report.caught_up:
                return False
            if not report.quiet and report.written < held.written + self._slack:
                return False
        return True

    def _overdue(self, now: float) -> tuple[float, float]:
        """The (event time, seq) up to which events are released for having waited too long:
        the latest of those held `max_hold` or more, so that order is kept among the rest."""
        overdue: tuple[float, float] = (-math.inf, -math.inf)
        while self._arrivals and now - self._arrivals[0][0] >= self._max_hold:
            _, at, seq = self._arrivals.popleft()
            overdue = max(overdue, (at, seq))
        return overdue
