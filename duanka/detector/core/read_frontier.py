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

    __slots__ = ("_beyond", "_hole", "_next", "_skipped")

    def __init__(
        self, start: int | None = None, hole: Callable[[int], bool] = lambda offset: False
    ) -> None:
        self._hole = hole
        """Whether the partition is known to have no message at an offset."""
        self._next = start if start is not None and start >= 0 else None
        """Every offset before it has been read (None: not known yet; the first message
        read counts)."""
        self._beyond = -1
        """The offset after the furthest message read."""
        self._skipped: tuple[int, int] | None = None
        """The first jump seen since the last message counted: the offset expected, and
        the one read instead."""

    def read(self, offset: int) -> bool:
        """Note the message at `offset` read; whether it counts: every message before it
        has been read."""
        self._beyond = max(self._beyond, offset + 1)
        expected = self._next
        if expected is not None and offset < expected:  # read again
            return True
        if expected is not None and offset > expected:
            jump = (expected, offset)
            if not self._hole(expected) and self._skipped != jump:
                if self._skipped is None:
                    self._skipped = jump
                return False
        self._next = offset + 1
        self._skipped = None
        return True

    @property
    def missing(self) -> bool:
        """Whether a message read does not count yet: one before it is missing (read
        again in order, the partition counts again once it has come back to the furthest
        message read)."""
        return self._next is not None and self._next < self._beyond
