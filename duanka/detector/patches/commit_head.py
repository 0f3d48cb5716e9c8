"""Offset commits that do not skip a message Faust's recovery dropped, nor events a worker
gave up without applying them.

- Patches: `faust.transport.consumer.Consumer._new_offset` (private), wrapped; keeps a
  limit per partition on the consumer (`withhold`) and clears Faust's acknowledgements of
  revoked partitions (`forget_revoked`).
- Upstream: faust-streaming issue #596 (a message fetched while recovery starts is dropped
  from Faust's queues and never processed; `_new_offset` tolerates a gap of one at the
  head, so the commit passes it, and stops for good at two). Faust has no way to
  acknowledge a message (a rebalance and a shutdown wait for that) without committing it.
- Proof: `tests/unit/test_commit_gaps.py` (one missing message holds the commit back;
  a revoked partition is not committed past an unacknowledged message, nor a withheld
  one; repeats do not slow commits; a revoked partition's acknowledgements are forgotten).
- Remove when: Faust neither drops fetched messages in recovery nor commits past a gap it
  did not learn from the broker, and can let a rebalance go on without committing what is
  left unprocessed; the tests above then pass without this patch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from faust.transport.consumer import Consumer
from faust.types import TP

WITHHELD = "_duanka_withheld"
"""The consumer attribute holding, per partition, the offset no commit may pass."""


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
        limit = getattr(self, WITHHELD, {}).get(tp)
        if result is not None and limit is not None and result > limit:
            return limit if committed is None or limit > committed else None
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


def withhold(consumer: Any, tp: TP, offset: int) -> None:
    """Commit `tp` no further than `offset` while this consumer holds it: the messages from
    there on are acknowledged without being processed (a worker giving the partition up
    drops the events it held), and whoever holds the partition next must read them again."""
    withheld: dict[TP, int] = consumer.__dict__.setdefault(WITHHELD, {})
    withheld[tp] = min(offset, withheld.get(tp, offset))


def forget_revoked(consumer: Any, revoked: Iterable[TP]) -> None:
    """Forget the limits and acknowledgements of revoked partitions. Faust forgets a revoked
    partition's acknowledgements as its revocation begins, but lists those made after that
    (the agents finishing their work, events given up) afresh; if the partition came back,
    they would count as messages of the new assignment processed, and its commits could
    pass messages read again but not processed yet."""
    withheld: dict[TP, int] = consumer.__dict__.get(WITHHELD, {})
    for tp in revoked:
        withheld.pop(tp, None)
        consumer._acked.pop(tp, None)
        consumer._acked_index.pop(tp, None)
