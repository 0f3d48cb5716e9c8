"""Event-time histories: records kept sorted by event time, queried by half-open windows.

Events can arrive out of order; inserting in order keeps every window query a pair of
binary searches, and forgetting what no window can reach any more keeps state bounded.
"""

import bisect
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import Any, Generic, Protocol, TypeVar


class Timed(Protocol):
    """A record of one event: its event time (epoch ms) and event id first, then its producer."""

    @property
    def at(self) -> int: ...

    @property
    def event_id(self) -> str: ...

    @property
    def source(self) -> str: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __getitem__(self, index: int) -> Any: ...


R = TypeVar("R", bound=Timed)


_event_time: Callable[[Timed], int] = itemgetter(0)
"""A record's `at` (a C-level key for bisect: a window query is two binary searches)."""
_event_id: Callable[[Timed], str] = itemgetter(1)


class History(Generic[R]):
    """Records of one kind for one subject, ordered by event time."""

    __slots__ = ("records",)

    def __init__(self, records: list[R] | None = None) -> None:
        self.records: list[R] = records if records is not None else []

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[R]:
        return iter(self.records)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, History) and self.records == other.records

    def __repr__(self) -> str:
        return f"History({self.records!r})"

    def add(self, record: R) -> None:
        """Insert after every record at the same or an earlier time."""
        self.records.insert(bisect.bisect_right(self.records, record.at, key=_event_time), record)

    def has(self, source: str, event_id: str) -> bool:
        """Whether this producer's event is already recorded (a re-delivery). The ids are
        compared first, in C; the source only for a record with the same id."""
        records = self.records
        if event_id not in map(_event_id, records):
            return False
        return any(r.event_id == event_id and r.source == source for r in records)

    def within(self, start: int, end: int) -> list[R]:
        """Records in the half-open event-time interval (start, end]."""
        lo = bisect.bisect_right(self.records, start, key=_event_time)
        hi = bisect.bisect_right(self.records, end, key=_event_time)
        return self.records[lo:hi]

    def latest_at_or_before(self, at: int) -> R | None:
        """The newest record at or before `at`."""
        index = bisect.bisect_right(self.records, at, key=_event_time)
        return self.records[index - 1] if index else None

    def forget_before(self, horizon: int) -> None:
        """Drop records at or before `horizon`."""
        records = self.records
        if records and records[0].at <= horizon:
            del records[: bisect.bisect_right(records, horizon, key=_event_time)]

    def to_json(self) -> list[list[Any]]:
        """Records as JSON arrays."""
        return [list(r) for r in self.records]
