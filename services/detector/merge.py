"""Delivering fetched records of all partitions in timestamp order.

A subject's events come from many input partitions, and the order in which the worker reads
them decides which event crosses a threshold, so which alert (and alert id) is raised.
Faust's default scheduler takes fetched records round-robin, one per partition: while a
backlog is read (after a restart, say), each partition's next record is taken in turn,
whatever its time, and a burst is seen in another order than when it was live. Even live,
records written a few milliseconds apart to two partitions can arrive in either order.

`TimestampMerge` merges instead, by Kafka record timestamp, as Kafka Streams does: records
are delivered oldest first, and a record is held while a partition that delivered within
the last MERGE_WAIT_S has not yet been fetched up to its timestamp, since that partition's
next records may be older. A record is never held longer than MERGE_WAIT_S, and a fetch
that brings nothing new releases everything, so a quiet partition holds up no one. Each
partition's own order is kept. Records of a partition Faust would not take now (paused
while a rebalance recovers tables) stay held: Faust drops what it is given for those.
"""

import heapq
import math
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

from faust.types import TP
from faust.types.transports import SchedulingStrategyT

MERGE_WAIT_S = 0.1
"""How long a partition counts as active after it delivered, and the longest a record is
held for others: the latency paid for reading partitions in order."""


class _Newest(NamedTuple):
    """The newest record timestamp fetched from a partition, and when (monotonic)."""

    timestamp: int
    fetched_at: float


class TimestampMerge(SchedulingStrategyT):
    """Faust's `ConsumerScheduler`: fetched records merged oldest first across partitions."""

    def __init__(
        self, wait: float = MERGE_WAIT_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._wait = wait
        self._clock = clock
        self._held: dict[TP, deque[tuple[float, Any]]] = {}
        """Per partition, its records not delivered yet, with when each was fetched."""
        self._newest: dict[TP, _Newest] = {}
        self._fetched_up_to: dict[TP, int] = {}
        """Per partition, the offset after the last record fetched."""
        self.deliverable: Callable[[], set[TP] | None] = lambda: None
        """The partitions Faust takes records of now (None: all); set by `attach`."""

    def iterate(self, records: Mapping[TP, list[Any]]) -> Iterator[tuple[TP, Any]]:
        """Records of this fetch and those held from earlier ones, oldest first, as far as
        every active partition has been fetched (or records waited long enough)."""
        now = self._clock()
        frontier = self._take(records, now)
        deliverable = self.deliverable()
        heads = [
            (q[0][1].timestamp, i, tp)
            for i, (tp, q) in enumerate(self._held.items())
            if deliverable is None or tp in deliverable
        ]
        order = {tp: i for _, i, tp in heads}
        heapq.heapify(heads)
        while heads:
            timestamp, _, tp = heads[0]
            queue = self._held[tp]
            if timestamp > frontier and now - queue[0][0] < self._wait:
                return  # an active partition may still deliver something older
            heapq.heappop(heads)
            yield tp, queue.popleft()[1]
            if queue:
                heapq.heappush(heads, (queue[0][1].timestamp, order[tp], tp))
            else:
                del self._held[tp]

    def _take(self, records: Mapping[TP, list[Any]], now: float) -> float:
        """Add a fetch to what is held; returns the timestamp up to which every active
        partition has been fetched (infinite for an empty fetch: nothing is pending).

        Records held for a partition that was since read again from an earlier offset (a
        seek after a rebalance or a stalled commit) are dropped: they were fetched anew."""
        fetched = False
        for tp, batch in records.items():
            if not batch:
                continue
            fetched = True
            if batch[0].offset < self._fetched_up_to.get(tp, batch[0].offset):
                self._held.pop(tp, None)
            self._held.setdefault(tp, deque()).extend((now, record) for record in batch)
            self._fetched_up_to[tp] = batch[-1].offset + 1
            newest = max(record.timestamp for record in batch)
            previous = self._newest.get(tp)
            if previous is not None:
                newest = max(newest, previous.timestamp)
            self._newest[tp] = _Newest(newest, now)
        if not fetched:
            return math.inf
        active = [n.timestamp for n in self._newest.values() if now - n.fetched_at <= self._wait]
        return min(active)


def register(app: Any) -> None:
    """Attach the merge to the app's consumer once it exists (at the first assignment)."""

    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        attach(app.consumer)

    app.on_partitions_assigned.connect(on_assigned)


def attach(consumer: Any) -> None:
    """Let the consumer's `TimestampMerge` see which partitions Faust takes records of:
    those active (assigned, not paused) or merely buffer-full, as `Consumer.getmany`
    checks."""
    scheduler = consumer.scheduler
    if isinstance(scheduler, TimestampMerge):

        def deliverable() -> set[TP] | None:
            active = consumer._active_partitions
            return None if active is None else active | consumer._buffered_partitions

        scheduler.deliverable = deliverable
