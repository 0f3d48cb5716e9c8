"""Partitions whose commits stall behind a message recovery dropped are read again.

When a worker starts while messages are already being fetched, Faust's recovery can drop a
fetched message from its queues without processing it (faust-streaming issue #596).
`patches.commit_head` keeps the commit from passing it; here, every `CHECK_INTERVAL` a
partition held back for `STUCK_AFTER` (doubling for each further seek from the same offset)
is sought back to its committed offset, so the missing messages are fetched and processed
again (the record merge is told, so that Faust's read offset stays where the seek put it:
`merge.seek_partitions`). Re-processing is safe: every agent is idempotent (events are
recognised by producer and event id, and the same alert keeps the same id).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from duanka.detector.merge import seek_partitions
from duanka.detector.patches.consumer_state import stalled_partitions

if TYPE_CHECKING:
    from duanka.detector.context import Detector

log = logging.getLogger(__name__)

CHECK_INTERVAL = 5.0
STUCK_AFTER = 15.0
"""Seconds a gap must last before the partition is read again. A partition's messages are
acknowledged in order, except subject events held for their turn in event-time order (which
the check knows and leaves alone: `Detector.holds`), so a gap is already a sign of a dropped
message, and everything after
it is processed again (its alerts sent again): the wait is short. The re-read message must
queue behind what was already fetched, so each further seek from the same offset waits
twice as long as the one before: a backlog cannot make the check seek over and over."""


def checker(detector: Detector) -> Callable[[], Awaitable[None]]:
    """The timer body of the check, run on every worker (the commits are guarded by
    `patches.commit_head`)."""
    app = detector.app
    stuck: dict[Any, tuple[int, float, int]] = {}
    """Per partition with a gap: its committed offset, since when it was seen there (or last
    sought back), and how often it was sought back from that offset."""

    async def unstick() -> None:
        if app.rebalancing:  # partitions are being handed over; they are sought anyway
            stuck.clear()
            return
        consumer: Any = app.consumer
        now = time.monotonic()
        stalled = [
            (tp, committed)
            for tp, committed in stalled_partitions(consumer)
            if not detector.partitions.holds(tp, committed)
        ]
        for tp, committed in stalled:
            entry = stuck.get(tp)
            if entry is None or entry[0] != committed:
                stuck[tp] = (committed, now, 0)
                continue
            _, since, seeks = entry
            if now - since >= STUCK_AFTER * 2**seeks:
                log.warning(
                    "offset commits of %s[%d] stuck at %d behind unprocessed messages; "
                    "reading again from there",
                    tp.topic,
                    tp.partition,
                    committed,
                )
                stuck[tp] = (committed, now, seeks + 1)
                await seek_partitions(consumer, {tp: committed})
        for tp in set(stuck) - {tp for tp, _ in stalled}:
            del stuck[tp]

    return unstick
