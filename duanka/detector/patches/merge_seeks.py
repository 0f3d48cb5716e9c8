"""The record merge told of Faust's seeks, and shown Faust's view of its partitions.

- Patches: `faust.transport.consumer.Consumer.perform_seek` (wrapped); reads
  `Consumer._active_partitions`, `_buffered_partitions`, `_read_offset`, and sets
  `_committed_offset` of partitions with nothing committed (private).
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

from duanka.detector.merge import TimestampMerge, seek_partitions


def tell_seeks() -> None:
    """Make Faust's seek of every assigned partition to its committed offset
    (`Consumer.perform_seek`: at the end of every recovery, and when records come while the
    flow is stopped) safe, by seeking every partition an agent reads once more (below, for
    those with nothing committed), through the merge (`seek_partitions`).

    aiokafka seeks the partitions one after the other while fetching goes on, and a
    recovery hands over records of the partitions assigned before it seeks them: when
    Faust's seek ends, a fetch from before a partition's seek may still be handed over,
    and Faust may have dropped records of it while it recovered tables (it takes none of a
    paused partition). Handed over after the seek, such a fetch sets Faust's read offset
    past the records it dropped, and those are then dropped again when they are fetched
    anew: lost to a partition with nothing committed, and read only after later ones to a
    partition whose commit waits for them (`commit_gaps`). Sought through the merge,
    fetches from before the seek are dropped and everything from the committed offset on is
    handed over again, in order, once. (The merge used to infer seeks from Faust's read
    offsets instead, and then waited up to BEHIND_WAIT_S for each partition in turn,
    blocking all others: a restarted or rebalanced worker read nothing for two to three
    minutes.)

    A partition its group never committed is not sought by Faust at all: aiokafka reads on
    from where it was, past whatever Faust dropped of it (a fetch that comes while the
    flow is stopped is dropped whole, before the merge sees it). So it is sought to its
    earliest offset, and Faust is told that is where its group stands, as if the group had
    committed there (where `consumer_auto_offset_reset="earliest"` starts it anyway), so
    that the commit guard sees a missing head there too (`patches.commit_head`). While a
    merged one is fetched again, the others' newer records may go first; the subject
    partitions still put the events in order, since its reader reports it neither caught
    up nor past them (`progress`). Idempotent."""
    original = Consumer.perform_seek
    if getattr(original, "tells_merge", False):
        return

    async def perform_seek(self: Any) -> None:
        await original(self)
        # The committed offsets (None: nothing committed), copied before the next await:
        # meanwhile Faust's fetcher moves its read offsets on over what it hands over.
        read = dict(self._read_offset)
        consumed = [tp for tp in self.assignment() if self.app.topics.acks_enabled_for(tp.topic)]
        uncommitted = [tp for tp in consumed if read.get(tp) is None]
        earliest = await self.earliest_offsets(*uncommitted) if uncommitted else {}
        offsets = {tp: read[tp] for tp in consumed if read.get(tp) is not None} | earliest
        for tp, offset in offsets.items():
            self._committed_offset[tp] = offset  # Faust keeps None for 0 too
        if offsets:
            await seek_partitions(self, offsets)

    perform_seek.tells_merge = True  # type: ignore[attr-defined]
    perform_seek.__wrapped__ = original  # type: ignore[attr-defined]
    Consumer.perform_seek = perform_seek  # type: ignore[method-assign]


def attach(consumer: Any, merged_topics: frozenset[str]) -> None:
    """Let the consumer's `TimestampMerge` merge `merged_topics`, and see which partitions
    Faust takes records of (those active, assigned and not paused, or merely buffer-full,
    as `Consumer.getmany` checks), their high watermarks, and set Faust's read offsets."""
    scheduler = consumer.scheduler
    if isinstance(scheduler, TimestampMerge):

        def takes(tp: TP) -> bool:
            active = consumer._active_partitions
            return active is None or tp in active or tp in consumer._buffered_partitions

        scheduler.takes = takes
        scheduler.highwater = consumer.highwater
        scheduler.set_read_offset = consumer._read_offset.__setitem__
        scheduler.merged_topics = merged_topics
