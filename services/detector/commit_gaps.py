"""Offset commits that neither skip nor stall on a message recovery dropped.

When a worker starts while messages are already being fetched, Faust's recovery can drop a
fetched message from its queues without processing it (faust-streaming issue #596); later
messages of the partition are processed and acknowledged, the dropped one never is. Faust
then commits past it when it is the only one missing (`Consumer._new_offset` tolerates a
gap of one at the head: the message and its alerts are lost), and stops committing for good
when more are missing. `guard_commits` makes any unexplained gap at the head hold the
commit back, and every `CHECK_INTERVAL` a partition held back for `STUCK_AFTER` (doubling
for each further seek from the same offset) is sought back to its committed offset, so the
missing messages are fetched and processed again (the record merge is told, so that
Faust's read offset stays where the seek put it: `merge.seek_partitions`).
Re-processing is safe: every agent is idempotent (events are recognised by producer and
event id, and the same alert keeps the same id).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from faust.transport.consumer import Consumer

from services.detector.merge import seek_partitions

if TYPE_CHECKING:
    from services.detector.app import Detector

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


def guard_commits() -> None:
    """Hold a partition's commit back while a message before its first acknowledged one is
    missing, unless Faust knows that offset is a gap in the topic (compaction, transaction
    markers); and during a rebalance, while Faust does not know the committed offset: it
    forgets it for a revoked partition before the app's last commit at revocation, and
    would then commit the first run of offsets acknowledged since, past any message before
    them not acknowledged yet (one an agent is still working on). Idempotent."""
    original = Consumer._new_offset
    if getattr(original, "guarded", False):
        return

    def _new_offset(self: Any, tp: Any) -> int | None:
        committed = self._committed_offset[tp]
        if committed is None and self.app.rebalancing:
            return None  # revoked: Faust forgot what was committed, so a gap is unseen
        _without_repeats(self._acked[tp], committed)
        if _missing_head(self._acked[tp], committed) and not self._gap[tp].overlaps(committed):
            return None
        result: int | None = original(self, tp)
        return result

    _new_offset.guarded = True  # type: ignore[attr-defined]
    _new_offset.__wrapped__ = original  # type: ignore[attr-defined]
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]


def _without_repeats(acked: list[int], committed: int | None) -> None:
    """Drop, in place, acknowledged offsets listed twice or already committed. Faust lists
    the offsets of a gap it learns of as acknowledged without indexing them, so a message
    of such an offset processed after a seek back is listed again; with a repeat, Faust's
    commit advances only up to the repeat, one repeat per commit: with thousands of them,
    commits crawl for an hour."""
    done = -1 if committed is None else committed
    kept = sorted({offset for offset in acked if offset >= done})
    if kept != acked:
        acked[:] = kept


def register(detector: Detector) -> None:
    """Guard the commits and run the check on every worker."""
    guard_commits()
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
            if not detector.holds(tp, committed)
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

    app.timer(CHECK_INTERVAL, name="commit-gap-check")(unstick)


def stalled_partitions(consumer: Any) -> list[tuple[Any, int]]:
    """Assigned partitions whose first acknowledged offset lies beyond the committed one,
    with that committed offset (Faust's `_acked` and `_committed_offset` bookkeeping; it
    keeps both for partitions no longer assigned, which cannot be sought)."""
    stalled = []
    assigned = consumer.assignment()
    for tp, acked in list(consumer._acked.items()):
        if tp not in assigned:
            continue
        committed = consumer._committed_offset.get(tp)
        if _missing_head(acked, committed):
            stalled.append((tp, committed))
    return stalled


def _missing_head(acked: Any, committed: int | None) -> bool:
    """Whether the message at the committed offset is missing while later ones were
    acknowledged. Faust holds -1 for a partition its group never committed: never."""
    return bool(acked) and committed is not None and committed >= 0 and min(acked) > committed
