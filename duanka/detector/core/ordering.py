"""Applying a subject partition's events in an order that depends only on what was written.

Which event of a burst crosses a threshold depends on the order the subject sees them, and
replay sees them in event-time order. Each subject-topic partition receives the events of
many origins (input topic partitions), forwarded by whichever workers read them,
interleaved as they happen to arrive. `EventOrder` puts them back in one order, and lets an
item go only when nothing that comes before it in that order can still arrive. Both the
order and that test are functions of what was written to the input topics (record
timestamps, origins, offsets, event times) and of nothing else: a pause, a slow reader or
a late report may delay an event, never change where it goes.

The order. Every item has a key; items are applied by key.

- An event's key is (event time, write time, origin, offset). The write time is its
  record's timestamp, which the broker sets as it appends (`LogAppendTime`).
- A watchlist record carries no event time. It counts as written `lead` ms before its
  timestamp, and takes its place among the events by that: after every event written
  before it, before every event written at or after it. Its key is (T, counts-as time,
  origin, offset), where T is the newest event time among the events written before it,
  placed before an event of the same time written as late or later.

How far each origin has come. Per origin the partition knows, from the events it brought
and from its reader's progress reports (`progress`), its newest event time, and the write
time it has been read through: the timestamp of the last record its reader handled, an
event, a rejected message, or a *marker*; or just short of the next record, once its
reader holds it with everything before it handled (records are stamped in order). A
reader writes markers into the input partitions it holds when they are quiet
(`progress`), so that the write time of a quiet origin moves on with the broker's clock,
as a fact in the data.

When an item can go. Producers write in event-time order within `slack` ms: an event
written more than `slack` ms after another is not older than it. An origin has passed an
event when it is the event's own origin (its next events come after it), when its newest
event time is later, or when it has been read through more than `slack` ms past the
event's write time. A watchlist origin has passed an event when it has been read through
more than `lead` ms past it. A record is placed (its T known) once every event origin has
been read through the time it counts as written; it goes once every event origin has
passed its (T, counts-as time) as above, and every other watchlist origin has been read
through its write time.

The dispositions the case linker offers (`disposition_gate`) come from *relayed* origins,
one per `dispositions` partition: events keyed by when the disposition was decided and
written, whose origin's progress only the linker's relayed reports tell. A linker that took
over offers again what it offered before, so one neither moves its origin on nor passes its
own origin; and a record is placed among the input events alone. One held is still a
record known (`recorded`): markers go to the `dispositions` partitions until they are read
past it, which is how a linker that moved and forgot their progress learns it again.
`reached` answers the linker: whether everything before a disposition it awaits an answer
about has gone, and nothing before it can still arrive.

So the order is replay's for input written in order, and the same after a pause, a
rebalance or a crash for any input. Input that breaks the assumptions (an origin out of
event-time order, an event written more than `slack` later than newer ones) is applied in
an order that can depend on when it arrived: such an event is late, and the rules count it
as late against its subject.

A worker giving a partition up drops the items it still holds (`drain`) and commits the
partition no further than the first of them: whoever holds it next reads them again where
they were written.
"""

import bisect
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Generic, Literal, NamedTuple, TypeVar

from duanka.detector.core.read_frontier import ReadFrontier

T = TypeVar("T")

Reason = Literal["in_order", "written"]
"""Why an item was let go: every origin had passed it with its own events; some origin
only by the write time it was read through (a quiet origin, or its markers)."""

_EVENT, _RECORD = 1, 0
"""The third field of a key: a record goes before an event of the same time and write
time."""


class OriginProgress(NamedTuple):
    """What a reader reports of one origin: its newest forwarded event time (epoch ms;
    None before the first, and for a watchlist partition), and the write time it has been
    read through (the timestamp of the last record handled, markers included; None before
    the first)."""

    newest: int | None
    written: int | None


class Key(NamedTuple):
    """An item's place in the order (also where a partition raised an alert: `disposal`)."""

    at: int
    """An event's time; a placed record's T."""
    written: int
    """An event's write time; a record's counts-as time."""
    kind: int
    origin: str
    offset: int


class _Held(NamedTuple, Generic[T]):
    key: Key
    seq: int
    """Arrival, for two copies of one item (sent again after a crash)."""
    written: int
    """When it was written to its input topic (epoch ms)."""
    item: T


class EventOrder(Generic[T]):
    """The events and watchlist records of one subject-topic partition, held until they
    can go in order."""

    __slots__ = (
        "_by_write",
        "_frontier",
        "_gone",
        "_held",
        "_lead",
        "_newest",
        "_origins",
        "_placing",
        "_record_origins",
        "_recorded",
        "_relayed",
        "_relayed_up_to",
        "_released",
        "_released_newest",
        "_seq",
        "_slack",
        "_unplaced",
        "_written",
    )

    def __init__(
        self,
        origins: Iterable[str],
        slack: int,
        *,
        record_origins: Iterable[str] = (),
        relayed: Iterable[str] = (),
        lead: int = 0,
        start: int | None = None,
        hole: Callable[[int], bool] = lambda offset: False,
        released: Callable[[Reason], None] = lambda reason: None,
    ) -> None:
        self._origins = tuple(sorted(set(origins)))
        """Every origin of events (with an event time) feeding the partition."""
        self._record_origins = tuple(sorted(set(record_origins)))
        """Every origin of watchlist records feeding the partition."""
        self._relayed = frozenset(relayed)
        """The event origins whose progress only reports tell (the case linker relays it,
        `disposition_gate`): their events come in the order the linker learns about their
        alerts, not in their own order, so an event of one neither moves it on nor passes
        it by itself."""
        self._relayed_up_to: dict[str, Key] = {}
        """Per relayed origin, the key of the last disposition the linker read of it:
        everything before it has been relayed, also what comes at the same time a little
        earlier, which neither its newest time nor the write slack passes."""
        self._placing = tuple(o for o in self._origins if o not in self._relayed)
        """The event origins a record is placed among: a relayed origin's events (what a
        disposition does) are placed by their own decision time, and do not move a
        record's place."""
        self._slack = slack
        self._lead = lead
        self._frontier = ReadFrontier(start, hole)
        """How far the partition has been read, from `start` (its committed offset), with
        no message missing (`hole`: whether the partition is known to have no message at an
        offset): while one is, what came after it may let items go early."""
        self._released = released
        """Told why each item is let go (a metric: how often order rests on write time)."""
        self._newest: dict[str, int] = {}
        """Per origin, the newest event time it has brought."""
        self._written: dict[str, int] = {}
        """Per origin, the write time it has been read through."""
        self._recorded = -1
        """The latest write time of a record (not a marker) known of any origin."""
        self._held: list[_Held[T]] = []
        """Events and placed records, a heap by key."""
        self._unplaced: list[_Held[T]] = []
        """Watchlist records whose T is not known yet, a heap by counts-as time."""
        self._released_newest = -1
        """The newest event time let go here: every event let go before a record is placed
        was written before it."""
        self._by_write: dict[str, _WriteOrder] = {}
        """Per origin, its held events by write time: a record's place is the newest event
        time among the events written before it."""
        self._gone: set[int] = set()
        """The arrivals of events let go that `_by_write` still holds (behind one that has
        not gone)."""
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._held) + len(self._unplaced)

    def __iter__(self) -> Iterator[T]:
        """The held events and records, in no particular order."""
        return (held.item for held in itertools.chain(self._held, self._unplaced))

    def add(self, item: T, origin: str, offset: int, at: int, written: int) -> None:
        """Hold an event read at `offset` of `origin`, at event time `at`, written to its
        input topic at `written` (epoch ms)."""
        self._recorded = max(self._recorded, written)
        if origin not in self._relayed:
            _advance(self._newest, origin, at)
            _advance(self._written, origin, written)
        key = Key(at, written, _EVENT, origin, offset)
        seq = next(self._seq)
        heapq.heappush(self._held, _Held(key, seq, written, item))
        if origin not in self._relayed:
            self._by_write.setdefault(origin, _WriteOrder()).add(written, at, seq)

    def add_record(self, item: T, origin: str, offset: int, written: int) -> None:
        """Hold a watchlist record read at `offset` of `origin`, written at `written`."""
        _advance(self._written, origin, written)
        self._recorded = max(self._recorded, written)
        key = Key(-1, written - self._lead, _RECORD, origin, offset)
        heapq.heappush(self._unplaced, _Held(key, next(self._seq), written, item))

    def read(self, offset: int) -> None:
        """The partition's message at `offset` (event, report or other) has been read. While
        a message before it is missing (`core.read_frontier`), nothing goes."""
        self._frontier.read(offset)

    def report(
        self,
        origins: Mapping[str, OriginProgress],
        recorded: int | None = None,
        through: Mapping[str, tuple[int, int, int]] = MappingProxyType({}),
    ) -> None:
        """Take a reader's progress report, and the latest write time of a record (not a
        marker) its worker knows of; and, of relayed origins, the last disposition (its
        time, write time and offset) the case linker read of each: everything before it in
        the order has been relayed. What it says is a fact about what was written and
        forwarded before it, whoever wrote it and when."""
        for origin, (at, written, offset) in through.items():
            if origin in self._relayed:
                key = Key(at, written, _EVENT, origin, offset)
                self._relayed_up_to[origin] = max(key, self._relayed_up_to.get(origin, key))
        for origin, progress in origins.items():
            if progress.newest is not None:
                _advance(self._newest, origin, progress.newest)
            if progress.written is not None:
                _advance(self._written, origin, progress.written)
        if recorded is not None:
            self._recorded = max(self._recorded, recorded)

    def recorded(self) -> int | None:
        """The latest write time of a record (not a marker) this partition knows of, held
        here or reported: quiet origins need markers until read through past it."""
        return None if self._recorded < 0 else self._recorded

    def reached(self, origin: str, at: int, written: int, offset: int) -> bool:
        """Whether every item that goes before an event of `origin` at `at`, written at
        `written` and read at `offset`, has been let go, and nothing that goes before it can
        still arrive but from `origin` itself: the case linker, holding such an event back,
        learns that no alert can be raised before it here."""
        key = Key(at, written, _EVENT, origin, offset)
        if self._frontier.missing:
            return False
        self._place()
        if self._held and self._held[0].key < key:
            return False
        return self._passing(key, written, origin) is not None

    def ready(self) -> list[T]:
        """The held items that can be applied now, in order."""
        return [item for _, item in self.ready_placed()]

    def ready_placed(self) -> list[tuple[Key, T]]:
        """The held items that can be applied now, in order, each with its key."""
        if self._frontier.missing:
            return []
        self._place()
        released = []
        while self._held:
            head = self._held[0]
            reason = self._passing(head.key, head.written)
            if reason is None:
                break
            heapq.heappop(self._held)
            if head.key.kind == _EVENT and head.key.origin not in self._relayed:
                self._released_newest = max(self._released_newest, head.key.at)
                self._gone.add(head.seq)
            released.append((head.key, head.item))
            self._released(reason)
        if released:
            for written in self._by_write.values():
                written.forget(self._gone)
        return released

    def drain(self) -> list[T]:
        """Every held item, events and placed records in order, then the records not
        placed (the partition is being given up)."""
        held = [
            heapq.heappop(heap).item
            for heap in (self._held, self._unplaced)
            for _ in range(len(heap))
        ]
        self._by_write.clear()
        self._gone.clear()
        return held

    def _place(self) -> None:
        """Give each record whose place can be known its key: once every event origin has
        been read through the time it counts as written, every event written before it is
        here or gone."""
        while self._unplaced:
            counts_as = self._unplaced[0].key.written
            if any(self._written.get(o, -1) < counts_as for o in self._placing):
                return
            record = heapq.heappop(self._unplaced)
            newest = max(
                (w.newest_before(counts_as) for w in self._by_write.values()),
                default=-1,
            )
            key = record.key._replace(at=max(newest, self._released_newest))
            heapq.heappush(self._held, record._replace(key=key))

    def _passing(self, key: Key, written: int, passed: str | None = None) -> Reason | None:
        """Whether nothing that goes before the item at `key`, written at `written`, can
        still arrive but from origin `passed`: if so, how surely; None if something can.
        An item's own origin passes it, unless its progress is relayed."""
        if key.kind == _EVENT:
            if self._unplaced and self._unplaced[0].key.written <= key.written:
                return None  # a record that may go first is not placed yet
            others = self._record_origins
            past = key.written + self._lead
        else:
            others = tuple(o for o in self._record_origins if o != key.origin)
            past = written
        if any(self._written.get(o, -1) <= past for o in others):
            return None
        reason: Reason = "in_order"
        own = None if key.origin in self._relayed else key.origin
        for origin in self._origins:
            if origin in (own, passed) or self._newest.get(origin, -1) > key.at:
                continue
            relayed_up_to = self._relayed_up_to.get(origin)
            if relayed_up_to is not None and key < relayed_up_to:
                continue
            if self._written.get(origin, -1) <= key.written + self._slack:
                return None
            reason = "written"
        return reason


class _WriteOrder:
    """One origin's held events in write order, each with the newest event time up to it,
    so that the newest event time among those written before a time is one search away.
    Events let go stay until those before them have gone too: their times are no newer than
    the newest let go, which a record's place counts anyway."""

    __slots__ = ("newest", "seqs", "written")

    def __init__(self) -> None:
        self.written: list[int] = []
        self.newest: list[int] = []
        self.seqs: list[int] = []

    def add(self, written: int, at: int, seq: int) -> None:
        """An event written at `written`, at event time `at`. An origin brings them in
        write order, but one sent back to a partition's end, or read again, may come later."""
        i = bisect.bisect_right(self.written, written)
        self.written.insert(i, written)
        self.seqs.insert(i, seq)
        self.newest.insert(i, at)
        for j in range(i, len(self.newest)):
            if j:
                self.newest[j] = max(self.newest[j], self.newest[j - 1])

    def newest_before(self, written: int) -> int:
        """The newest event time among the events written before `written` (-1: none)."""
        i = bisect.bisect_left(self.written, written)
        return self.newest[i - 1] if i else -1

    def forget(self, gone: set[int]) -> None:
        """Drop the events let go (in `gone`, which forgets them too) from the front."""
        n = 0
        while n < len(self.seqs) and self.seqs[n] in gone:
            gone.discard(self.seqs[n])
            n += 1
        if n:
            del self.written[:n], self.newest[:n], self.seqs[:n]


def _advance(latest: dict[str, int], origin: str, at: int) -> None:
    if at > latest.get(origin, -1):
        latest[origin] = at
