"""Delivering fetched records of the input partitions in timestamp order.

A subject's events come from many input partitions, and the order in which the worker reads
them decides which event crosses a threshold, so which alert (and alert id) is raised.
Faust's default scheduler takes fetched records round-robin, one per partition: while a
backlog is read (after a restart, say), each partition's next record is taken in turn,
whatever its time, and a burst is seen in another order than when it was live. Even live,
records written a few milliseconds apart to two partitions can arrive in either order.

`TimestampMerge` merges instead, by Kafka record timestamp, as Kafka Streams does: records
are delivered oldest first, and a record is held while a partition that may still deliver
something older has not been fetched up to its timestamp. Two kinds of partition may:

- one *behind*, known to hold records not fetched yet (its high watermark, as of its last
  fetch, is past what was fetched): a backlog is being read, and fetches come only as fast as
  the worker processes, a second or more apart when it is busy. Such a partition holds
  others back for up to BEHIND_WAIT_S since it last delivered;
- one that delivered within the last MERGE_WAIT_S: live traffic, where records written
  milliseconds apart to two partitions arrive in separate fetches. A record is held for
  this at most MERGE_WAIT_S, and a fetch that brings nothing new releases it.

So a quiet or drained partition holds up no one, and a partition whose high watermark
stays past its last record (a compacted or transactional gap) holds others at most
BEHIND_WAIT_S once. Each partition's own order is kept. Records of a partition Faust would
not take now (paused while a rebalance recovers tables), merged or not, stay held until it
does: Faust drops what it is given of those without moving its read offset, so the next
record handed over would not even show a gap.

Records must not outlive a seek. Faust reads a partition on from where it last read
(its read offset) and takes a record beyond the next offset as the end of a gap in the
topic: it counts the offsets in between as done, and drops the records of those offsets
when they are fetched again. So a record fetched before a seek back, and handed over after
it, would lose every message in between and leave the partition's commits stuck for good.
The merge is therefore told of every seek (`seek`) before aiokafka seeks the partition
(`seek_partitions`): it drops what it holds of it, and fetches from the old position that
still come, until the partition is fetched from where it was sought to; and it stops
handing over a fetch of a partition sought meanwhile. This holds for partitions not merged
as well. The stuck-commit check seeks this way; Faust's own seek of every partition to its
committed offset, at the end of every recovery, is followed by a seek of every partition
read by an agent with a commit there once more, this way, and of every partition not
merged with nothing committed to its earliest offset (`patches.merge_seeks.tell_seeks`).

Only the input topics others write and whose messages carry a time are merged
(`MERGED_TOPICS`): the event topics and `dispositions`. Read as fetched, a backlog's
dispositions would all come first, each before its alert, and each would hold its
subjects' partitions until they have answered for it (`core.disposition_gate`), one
after the other. The worker's own subject topics are written as it goes,
with current timestamps, and each subject is read from one partition, so holding them back
would only add latency. Watchlist records are put in order at their identity's partition,
by when they were written (`core.ordering`); the worker writes its own listings to
`watchlist` as it goes, and merged, those would hold the watchlist back behind any backlog,
and with it every identity event waiting for it.
"""

import heapq
import math
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

from faust.types import TP
from faust.types.transports import SchedulingStrategyT

from duanka.detector.core.intake import InputTopic
from duanka.detector.core.watermark import FEEDING_TOPICS, LINKED_TOPICS

MERGED_TOPICS: frozenset[InputTopic] = frozenset(
    topic for topics in (*FEEDING_TOPICS.values(), *LINKED_TOPICS.values()) for topic in topics
)
"""The input topics whose records are merged; the others (`watchlist`) go as fetched."""
MERGE_WAIT_S = 0.1
"""How long a caught-up partition counts as active after it delivered, and the longest a
record is held for such partitions: the latency paid for reading live partitions in order."""
BEHIND_WAIT_S = 5.0
"""How long a partition behind its high watermark holds others back after it last delivered:
longer than a fetch cycle of a worker busy with a backlog."""


class _Newest(NamedTuple):
    """The newest record timestamp fetched from a partition, and when (monotonic)."""

    timestamp: int
    fetched_at: float


class Upcoming(NamedTuple):
    """The next record of a partition, fetched and not handed over yet: its timestamp, and
    the offset of the last record handed over before it since the partition was assigned
    or sought (None: none). Once every record handed over has been handled, the partition
    is read through just short of that timestamp: a broker stamps the records it appends
    (`LogAppendTime`) in order, so no later record of the partition is older."""

    handed: int | None
    timestamp: int


def upcoming(consumer: Any, tp: TP) -> Upcoming | None:
    """`TimestampMerge.upcoming` of the consumer's merge (None without one)."""
    scheduler = getattr(consumer, "scheduler", None)
    return scheduler.upcoming(tp) if isinstance(scheduler, TimestampMerge) else None


class _Frontier(NamedTuple):
    """Up to which record timestamp every partition that may still deliver something older
    has been fetched: those behind their high watermark, and the live ones."""

    behind: float
    live: float


class TimestampMerge(SchedulingStrategyT):
    """Faust's `ConsumerScheduler`: fetched records merged oldest first across partitions."""

    def __init__(
        self,
        wait: float = MERGE_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
        behind_wait: float = BEHIND_WAIT_S,
    ) -> None:
        self._wait = wait
        self._behind_wait = behind_wait
        self._clock = clock
        self._held: dict[TP, deque[tuple[float, Any]]] = {}
        """Per partition, its records not delivered yet, with when each was fetched."""
        self._newest: dict[TP, _Newest] = {}
        self._fetched_up_to: dict[TP, int] = {}
        """Per partition, the offset after the last record fetched."""
        self.takes: Callable[[TP], bool] = lambda tp: True
        """Whether Faust takes a record of a partition now, as it checks each record handed
        over; set by `patches.merge_seeks.attach`."""
        self._unmerged: dict[TP, deque[Any]] = {}
        """Per partition not merged, its records fetched and not handed over yet (Faust
        would not take them, or the generator was left between two)."""
        self.highwater: Callable[[TP], int | None] = lambda tp: None
        """A partition's high watermark as of its last fetch (None: unknown); set by
        `patches.merge_seeks.attach`."""
        self.set_read_offset: Callable[[TP, int], None] | None = None
        """Sets Faust's read offset of a partition; set by `patches.merge_seeks.attach`."""
        self._refetch_from: dict[TP, tuple[int, float]] = {}
        """Per partition sought by `seek`, the offset it is fetched again from and when it
        was sought: until a fetch from there comes, fetches from the old position are
        dropped (aiokafka may still deliver some)."""
        self._sought_to: dict[TP, int] = {}
        """Per partition sought by `seek`, the offset it reads from again: Faust's read
        offset is set to it again as the first record from there is handed over."""
        self.merged_topics: frozenset[str] | None = None
        """The topics whose records are merged (None: all); others are delivered as
        fetched. Set by `patches.merge_seeks.attach`."""
        self.holding = False
        """Whether every merged record is held (`hold`)."""
        self._handed: dict[TP, int] = {}
        """Per merged partition, the offset of the last record handed over since it was
        assigned or sought."""

    def upcoming(self, tp: TP) -> Upcoming | None:
        """What the merge knows of the next record of a merged partition not handed over
        yet: held here, its timestamp; None if it holds none."""
        queue = self._held.get(tp)
        if not queue:
            return None
        return Upcoming(self._handed.get(tp), queue[0][1].timestamp)

    def hold(self, holding: bool) -> None:
        """Hold every merged record, or hand them over again (`ingest_throttle`, which
        also stops their fetching meanwhile). Going on, each partition and each record
        held counts as fetched just now: the partitions behind hold the others back until
        they are fetched again, as if there had been no pause."""
        if self.holding and not holding:
            now = self._clock()
            self._newest = {tp: n._replace(fetched_at=now) for tp, n in self._newest.items()}
            self._held = {
                tp: deque((now, record) for _, record in queue) for tp, queue in self._held.items()
            }
        self.holding = holding

    def iterate(self, records: Mapping[TP, list[Any]]) -> Iterator[tuple[TP, Any]]:
        """Records of this fetch and those held from earlier ones, oldest first, as far as
        every partition that may still deliver older ones has been fetched (or records
        waited long enough); records of topics not merged first, as fetched."""
        merged = self.merged_topics
        now = self._clock()
        if merged is not None:
            for tp, batch in records.items():
                if (
                    tp.topic not in merged
                    and batch
                    and not self._fetched_before_seek(tp, batch, now)
                ):
                    self._unmerged.setdefault(tp, deque()).extend(batch)
            for tp in list(self._unmerged):
                yield from self._as_fetched(tp)
            records = {tp: batch for tp, batch in records.items() if tp.topic in merged}
        frontier = self._take(records, now)
        if self.holding:
            return
        heads = [
            (q[0][1].timestamp, i, tp)
            for i, (tp, q) in enumerate(self._held.items())
            if self.takes(tp)
        ]
        order = {tp: i for _, i, tp in heads}
        heapq.heapify(heads)
        while heads:
            timestamp, _, tp = heads[0]
            queue = self._held.get(tp)
            if not queue:
                heapq.heappop(heads)
                self._held.pop(tp, None)
                continue
            if not self.takes(tp):  # paused meanwhile: held until Faust takes it again
                heapq.heappop(heads)
                continue
            waited = now - queue[0][0]
            if (timestamp > frontier.behind and waited < self._behind_wait) or (
                timestamp > frontier.live and waited < self._wait
            ):
                return  # a partition may still deliver something older
            heapq.heappop(heads)
            record = queue.popleft()[1]
            self._restart(tp)
            self._handed[tp] = record.offset
            yield tp, record
            if queue:
                heapq.heappush(heads, (queue[0][1].timestamp, order[tp], tp))
            elif self._held.get(tp) is queue:
                del self._held[tp]

    def _as_fetched(self, tp: TP) -> Iterator[tuple[TP, Any]]:
        """What was fetched of a partition not merged, in order, while Faust takes it; no
        more once the partition is sought while it is handed over (the generator waits
        between records): it is fetched again from there."""
        queue = self._unmerged.get(tp)
        while queue and self._unmerged.get(tp) is queue and self.takes(tp):
            record = queue.popleft()
            self._restart(tp)
            yield tp, record
        if queue is not None and not queue and self._unmerged.get(tp) is queue:
            del self._unmerged[tp]

    def _fetched_before_seek(self, tp: TP, batch: list[Any], now: float) -> bool:
        """Whether a fetch of `tp` came from before its last `seek` (its first offset is
        past the offset sought, and a transaction marker's room, for up to BEHIND_WAIT_S);
        the first one that does not ends the wait."""
        refetch = self._refetch_from.get(tp)
        if refetch is None:
            return False
        offset, sought_at = refetch
        if batch[0].offset > offset + 1 and now - sought_at < self._behind_wait:
            return True
        del self._refetch_from[tp]
        return False

    def _restart(self, tp: TP) -> None:
        """As the first record read from where `tp` was sought is handed over, set Faust's
        read offset there again (`seek`)."""
        restart = self._sought_to.pop(tp, None)
        if restart is not None and self.set_read_offset is not None:
            self.set_read_offset(tp, restart)

    def seek(self, tp: TP, offset: int) -> None:
        """Note that `tp` is being sought to `offset`: what is held is dropped, and so are
        fetches from the old position that still come (their first offset is past
        `offset` + 1, a transaction marker's room), for up to BEHIND_WAIT_S. Faust sets its
        read offset to `offset`, but a record it was handing over when the seek came sets
        it back to that record's offset when done, and Faust would then drop the re-read
        records up to it; so the read offset is set to `offset` again as the first record
        read from there is handed over (no earlier record can be in flight then)."""
        self._drop(tp)
        self._sought_to[tp] = offset
        self._refetch_from[tp] = (offset, self._clock())

    def _drop(self, tp: TP) -> None:
        """Forget `tp`'s held records and position: it is fetched again from where it was
        sought to (or, revoked, not here any more)."""
        self._held.pop(tp, None)
        self._unmerged.pop(tp, None)
        self._fetched_up_to.pop(tp, None)
        self._handed.pop(tp, None)

    def _take(self, records: Mapping[TP, list[Any]], now: float) -> _Frontier:
        """Add a fetch to what is held; returns the frontier (the live one infinite for an
        empty fetch: nothing new is pending).

        Records held for a partition that was since read again from an earlier offset (a
        seek after a rebalance or a stalled commit) are dropped: they were fetched anew."""
        fetched = False
        for tp, batch in records.items():
            if not batch or self._fetched_before_seek(tp, batch, now):
                continue  # (before a seek: fetched again from where it was sought)
            fetched = True
            if batch[0].offset < self._fetched_up_to.get(tp, batch[0].offset):
                self._drop(tp)
            self._held.setdefault(tp, deque()).extend((now, record) for record in batch)
            self._fetched_up_to[tp] = batch[-1].offset + 1
            newest = max(record.timestamp for record in batch)
            previous = self._newest.get(tp)
            if previous is not None:
                newest = max(newest, previous.timestamp)
            self._newest[tp] = _Newest(newest, now)
        behind = [
            n.timestamp
            for tp, n in self._newest.items()
            if now - n.fetched_at < self._behind_wait
            and self.takes(tp)
            and self._fetched_up_to.get(tp, math.inf) < (self.highwater(tp) or 0)
        ]
        live = [n.timestamp for n in self._newest.values() if now - n.fetched_at <= self._wait]
        return _Frontier(min(behind, default=math.inf), min(live) if fetched and live else math.inf)

    def forget(self, partitions: set[TP]) -> None:
        """Drop what is known of partitions no longer assigned here: their held records
        would be delivered by the new owner, and they deliver nothing more here."""
        for tp in partitions:
            self._drop(tp)
            self._newest.pop(tp, None)
            self._sought_to.pop(tp, None)
            self._refetch_from.pop(tp, None)


def forget_partitions(consumer: Any, revoked: Any) -> None:
    """Forget revoked partitions. (The merge is attached to the consumer, and told of
    Faust's seeks, by `patches.merge_seeks`.)"""
    scheduler = getattr(consumer, "scheduler", None)
    if isinstance(scheduler, TimestampMerge):
        scheduler.forget(set(revoked))


async def seek_partitions(consumer: Any, offsets: Mapping[TP, int]) -> None:
    """Seek partitions of `consumer` to `offsets`: its merge is told first (it drops what it
    holds of them, and what still comes from before the seek), then aiokafka seeks them in
    its own thread, which fetches (a seek from the worker's thread raced with aiokafka's
    fetching and crashed it)."""
    merge = consumer.scheduler
    if isinstance(merge, TimestampMerge):
        for tp, offset in offsets.items():
            merge.seek(tp, offset)
    await consumer.seek_wait(offsets)
