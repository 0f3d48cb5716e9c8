"""The record merge told of Faust's seeks, and shown Faust's view of its partitions.

- Patches: `faust.transport.consumer.Consumer.perform_seek` (wrapped), and reads
  `Consumer._active_partitions`, `_buffered_partitions`, `_read_offset` (private).
- Upstream: none filed. Faust's `SchedulingStrategyT` (the `ConsumerScheduler` setting)
  is handed records only; it has no way to learn of seeks or of which partitions Faust
  will take records from.
- Proof: `tests/unit/test_merge.py` (Faust's seek to the committed offsets reads merged
  partitions again; fetches from before a seek are dropped), and the rebalance runs of
  `tests/integration/test_backlog.py`.
- Remove when: Faust's scheduler interface reports seeks and deliverable partitions.
"""

from __future__ import annotations

from typing import Any

from faust.transport.consumer import Consumer
from faust.types import TP

from services.detector.merge import TimestampMerge, seek_partitions


def tell_seeks() -> None:
    """Make Faust's seek of every assigned partition to its committed offset
    (`Consumer.perform_seek`: at the end of every recovery, and when records come while the
    flow is stopped) safe for the merge. aiokafka seeks the partitions one after the other
    (about a second for a hundred) while fetching goes on, so when the seek ends the merge
    may hold records fetched before a partition's seek, or already fetched again after it,
    and Faust may have dropped some of those below its read offset. So every merged
    partition with an offset committed is sought there once more (`seek_partitions`):
    everything from the committed offset on is fetched and handed over again, once. A
    partition with nothing committed is not sought (aiokafka reads on where it was, Faust
    forgets its read offset), and the merge keeps what it holds of it. (The merge used to
    infer seeks from Faust's read offsets instead, and then waited up to BEHIND_WAIT_S for
    each partition in turn, blocking all others: a restarted or rebalanced worker read
    nothing for two to three minutes.) Idempotent."""
    original = Consumer.perform_seek
    if getattr(original, "tells_merge", False):
        return

    async def perform_seek(self: Any) -> None:
        await original(self)
        merge = self.scheduler
        if isinstance(merge, TimestampMerge):
            read = self._read_offset  # the committed offsets now; None: nothing committed
            committed = {
                tp: read[tp] for tp in self.assignment() if merge.merges(tp) and read.get(tp)
            }
            if committed:
                await seek_partitions(self, committed)

    perform_seek.tells_merge = True  # type: ignore[attr-defined]
    perform_seek.__wrapped__ = original  # type: ignore[attr-defined]
    Consumer.perform_seek = perform_seek  # type: ignore[method-assign]


def attach(consumer: Any, merged_topics: frozenset[str]) -> None:
    """Let the consumer's `TimestampMerge` merge `merged_topics`, and see which partitions
    Faust takes records of (those active, assigned and not paused, or merely buffer-full,
    as `Consumer.getmany` checks), their high watermarks, and set Faust's read offsets."""
    scheduler = consumer.scheduler
    if isinstance(scheduler, TimestampMerge):

        def deliverable() -> set[TP] | None:
            active = consumer._active_partitions
            return None if active is None else active | consumer._buffered_partitions

        scheduler.deliverable = deliverable
        scheduler.highwater = consumer.highwater
        scheduler.set_read_offset = consumer._read_offset.__setitem__
        scheduler.merged_topics = merged_topics
