"""How far a partition has been read with nothing missing before.

Faust can drop a fetched message while it recovers tables after a rebalance (it takes no
record of a paused partition, and flushes its queues), and reads it again only when the
partition's commit is found stuck behind it (`commit_gaps`), seconds later. Whatever was
read after it in the meantime has not been read *through*: a progress report or an order
that counted it would let later events go before the missing one. So reading counts only
along consecutive offsets, from where it began (the committed offset). A jump counts once
the missing offsets come (the partition is read again from its commit), or at once if the
topic is known to have no message there (compaction, a transaction marker), or when the
same message comes first again after a seek back: then the offsets before it were a hole
nobody had noted (Faust notes none right after a seek).
"""

from collections.abc import Callable


class ReadFrontier:
    """The offsets of one partition read so far, counting only those with every message
    before them read."""

    __slots__ = ("_next", "_skipped")

    def __init__(self, start: int | None = None) -> None:
        self._next = start if start is not None and start >= 0 else None
        """The offset after the last message counted (None: not known yet; the first
        message read counts)."""
        self._skipped: int | None = None
        """The first offset read beyond a missing one, while one is missing."""

    def read(self, offset: int, hole: Callable[[int], bool] | None = None) -> bool:
        """Note the message at `offset` read; whether it counts: every message before it
        has been read. `hole` says whether the partition is known to have no message at an
        offset."""
        expected = self._next
        if expected is not None and expected < offset and not (hole and hole(expected)):
            first = self._skipped
            if first is None:
                self._skipped = offset
            if first != offset:  # not yet read again from before it
                return False
        self._skipped = None
        self._next = offset + 1 if expected is None else max(expected, offset + 1)
        return True

    @property
    def missing(self) -> bool:
        """Whether a message read does not count yet: one before it is missing."""
        return self._skipped is not None
