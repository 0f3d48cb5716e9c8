"""Offset commits that do not skip a message Faust's recovery dropped.

- Patches: `faust.transport.consumer.Consumer._new_offset` (private), wrapped.
- Upstream: faust-streaming issue #596 (a message fetched while recovery starts is dropped
  from Faust's queues and never processed; `_new_offset` tolerates a gap of one at the
  head, so the commit passes it, and stops for good at two).
- Proof: `tests/unit/test_commit_gaps.py` (one missing message holds the commit back;
  a revoked partition is not committed past an unacknowledged message; repeats do not
  slow commits).
- Remove when: Faust neither drops fetched messages in recovery nor commits past a gap it
  did not learn from the broker; the tests above then pass without this patch.
"""

from __future__ import annotations

from typing import Any

from faust.transport.consumer import Consumer


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
        if missing_head(self._acked[tp], committed) and not self._gap[tp].overlaps(committed):
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


def missing_head(acked: Any, committed: int | None) -> bool:
    """Whether the message at the committed offset is missing while later ones were
    acknowledged. Faust holds -1 for a partition its group never committed: never."""
    return bool(acked) and committed is not None and committed >= 0 and min(acked) > committed
