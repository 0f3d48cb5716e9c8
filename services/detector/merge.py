"""Delivering fetched records of all partitions in timestamp order.

A subject's events come from many input partitions, and the order in which the worker reads
them decides which event crosses a threshold, so which alert (and alert id) is raised.
Faust's default scheduler takes fetched records round-robin, one per partition: while a
backlog is read (after a restart, say), each partition's next record is taken in turn,
whatever its time, and a burst is seen in another order than when it was live.

`TimestampMerge` merges instead, by Kafka record timestamp, as Kafka Streams does: records
are delivered oldest first, and when a partition's fetched records run out, the others'
newer ones are held until its next records have been fetched, since those may be older.
A fetch that brings nothing new releases everything held, so a quiet partition never holds
up the others. Each partition's own order is kept.
"""

import heapq
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from faust.types import TP
from faust.types.transports import SchedulingStrategyT


class TimestampMerge(SchedulingStrategyT):
    """Faust's `ConsumerScheduler`: fetched records merged oldest first across partitions."""

    def __init__(self) -> None:
        self._held: dict[TP, deque[Any]] = {}
        self._fetched_up_to: dict[TP, int] = {}
        """Per partition, the offset after the last record fetched."""

    def iterate(self, records: Mapping[TP, list[Any]]) -> Iterator[tuple[TP, Any]]:
        """Records of this fetch and those held from earlier ones, oldest first, until a
        partition that delivered in this fetch runs out."""
        fetched = self._take(records)
        heads = [(queue[0].timestamp, i, tp) for i, (tp, queue) in enumerate(self._held.items())]
        order = {tp: i for _, i, tp in heads}
        heapq.heapify(heads)
        while heads:
            _, _, tp = heapq.heappop(heads)
            queue = self._held[tp]
            yield tp, queue.popleft()
            if queue:
                heapq.heappush(heads, (queue[0].timestamp, order[tp], tp))
                continue
            del self._held[tp]
            if tp in fetched:
                return  # its next records may be older than anything left: wait for them

    def _take(self, records: Mapping[TP, list[Any]]) -> set[TP]:
        """Add a fetch to what is held; the partitions that delivered in it. Records held
        for a partition that was since read again from an earlier offset (a seek after a
        rebalance or a stalled commit) are dropped: they have been fetched anew."""
        fetched = set()
        for tp, batch in records.items():
            if not batch:
                continue
            fetched.add(tp)
            if batch[0].offset < self._fetched_up_to.get(tp, batch[0].offset):
                self._held.pop(tp, None)
            self._held.setdefault(tp, deque()).extend(batch)
            self._fetched_up_to[tp] = batch[-1].offset + 1
        return fetched
