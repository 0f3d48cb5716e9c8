"""What Faust's consumer knows of its partitions, read from its private bookkeeping.

- Patches: nothing; reads `Consumer._committed_offset`, `_acked`, `_gap`, `_read_offset`,
  `_active_partitions`, `_paused_partitions` and aiokafka's fetcher through
  `Consumer._thread` (private).
- Upstream: none filed. Faust exposes none of these: the committed offset of a partition
  as it will next commit from, its acknowledged offsets, and when aiokafka last fetched a
  partition's high watermark.
- Proof: `tests/unit/test_progress.py`, `tests/unit/test_commit_gaps.py`,
  `tests/unit/test_stall_watch.py` and `tests/unit/test_ingest_throttle.py` read through
  these; the paced backlog runs of
  `tests/integration/test_backlog.py` need `fetched_at` for event-time order.
- Remove when: duanka reads its input with its own consumer, or Faust exposes them.
"""

from __future__ import annotations

from typing import Any

from faust.types import TP

from duanka.detector.merge import TimestampMerge
from duanka.detector.patches.commit_head import missing_head


def committed(consumer: Any, tp: TP) -> int | None:
    """The offset Faust last committed for `tp` (-1: its group never committed; None:
    not known here)."""
    offset: int | None = consumer._committed_offset.get(tp)
    return offset


def read_from(consumer: Any, tp: TP) -> int:
    """The offset reading `tp` begins at: the committed one, or 0 if its group never
    committed (or it is not known here)."""
    return max(committed(consumer, tp) or 0, 0)


def unread(consumer: Any, tp: TP) -> int:
    """How many messages of `tp` are past the last one Faust handed to its agent, as of
    aiokafka's last fetch of the partition's high watermark (0 before any)."""
    highwater = consumer.highwater(tp)
    if highwater is None:
        return 0
    read = consumer._read_offset.get(tp)
    next_offset = read + 1 if read is not None else read_from(consumer, tp)
    return max(0, int(highwater) - next_offset)


def known_hole(consumer: Any, tp: TP, offset: int) -> bool:
    """Whether Faust's `consumer` has seen that `tp` has no message at `offset` (a gap in
    its offsets: compaction, a transaction marker), as it notes before handing over the
    message after it."""
    return bool(consumer._gap[tp].overlaps(offset))


def fetched_at(consumer: Any, tp: TP) -> int | None:
    """When Faust's `consumer` last fetched the high watermark of `tp` (epoch ms; None
    before its first fetch). aiokafka sets it after the high watermark, from another
    thread: read it first, and a high watermark read after it is at least as new. Both
    assert that `tp` is still assigned."""
    stamp: int | None = consumer._thread._ensure_consumer().last_poll_timestamp(tp)
    return stamp


def stalled_partitions(consumer: Any) -> list[tuple[Any, int]]:
    """Assigned partitions whose first acknowledged offset lies beyond the committed one,
    with that committed offset (Faust's `_acked` and `_committed_offset` bookkeeping; it
    keeps both for partitions no longer assigned, which cannot be sought)."""
    stalled = []
    assigned = consumer.assignment()
    for tp, acked in list(consumer._acked.items()):
        if tp not in assigned:
            continue
        offset = committed(consumer, tp)
        if offset is not None and missing_head(acked, offset):
            stalled.append((tp, offset))
    return stalled


def describe(consumer: Any, tp: TP) -> str:
    """What the consumer knows of `tp`, for the warning."""
    scheduler = consumer.scheduler
    held = len(scheduler._held.get(tp, ())) if isinstance(scheduler, TimestampMerge) else None
    active = consumer._active_partitions
    return (
        f"committed {committed(consumer, tp)}, read offset "
        f"{consumer._read_offset.get(tp)}, high watermark {consumer.highwater(tp)}, "
        f"paused {tp in consumer._paused_partitions}, "
        f"active {active is None or tp in active}, held by the merge {held}, "
        f"flow active {consumer.flow_active}"
    )
