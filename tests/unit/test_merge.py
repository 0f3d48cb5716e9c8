"""Fetched records are delivered oldest first across partitions, each partition in its own
order; what an active partition may still precede is held, but never for long, and what a
partition behind its high watermark may precede a little longer."""

from types import SimpleNamespace
from typing import NamedTuple

from faust.transport.consumer import Consumer
from faust.types import TP

from duanka.detector.merge import TimestampMerge
from duanka.detector.patches.merge_seeks import tell_seeks

A, B, C = TP("sim-activations", 0), TP("transfers", 3), TP("account-opens", 1)
WAIT = 0.1
BEHIND_WAIT = 5.0


class Record(NamedTuple):
    offset: int
    timestamp: int


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fetch(first_offset: int, *timestamps: int) -> list[Record]:
    return [Record(first_offset + i, t) for i, t in enumerate(timestamps)]


def delivered(merge: TimestampMerge, records: dict[TP, list[Record]]) -> list[tuple[str, int]]:
    return [(tp.topic[0], record.timestamp) for tp, record in merge.iterate(records)]


def test_partitions_are_merged_by_timestamp_up_to_where_each_has_been_fetched() -> None:
    merge = TimestampMerge(WAIT, Clock())
    first = delivered(merge, {A: fetch(0, 10, 20, 30, 40), B: fetch(0, 15, 25)})
    assert first == [("s", 10), ("t", 15), ("s", 20), ("t", 25)]
    second = delivered(merge, {B: fetch(2, 27, 50)})
    assert second == [("t", 27), ("s", 30), ("s", 40)]
    assert delivered(merge, {}) == [("t", 50)]  # nothing new anywhere: all is released


def test_a_record_arriving_a_fetch_late_is_still_delivered_in_order() -> None:
    clock = Clock()
    merge = TimestampMerge(WAIT, clock)
    assert delivered(merge, {A: fetch(0, 100), B: fetch(0, 90)}) == [("t", 90)]
    clock.now = 0.01
    assert delivered(merge, {A: fetch(1, 120)}) == []  # B, active, may hold older records
    clock.now = 0.02
    assert delivered(merge, {B: fetch(1, 110, 130)}) == [("s", 100), ("t", 110), ("s", 120)]


def test_no_record_waits_longer_than_the_merge_wait() -> None:
    clock = Clock()
    merge = TimestampMerge(WAIT, clock)
    delivered(merge, {A: fetch(0, 100), B: fetch(0, 90)})
    clock.now = 0.05
    assert delivered(merge, {A: fetch(1, 120)}) == []
    clock.now = WAIT  # B is still behind 100, but 100 has waited long enough; 120 has not
    assert delivered(merge, {B: fetch(1, 95)}) == [("t", 95), ("s", 100)]


def test_a_partition_that_went_quiet_holds_up_no_one() -> None:
    clock = Clock()
    merge = TimestampMerge(WAIT, clock)
    delivered(merge, {A: fetch(0, 100), B: fetch(0, 90)})
    clock.now = 2 * WAIT
    assert delivered(merge, {A: fetch(1, 120)}) == [("s", 100), ("s", 120)]


def test_a_partition_keeps_its_own_order_even_when_its_timestamps_go_back() -> None:
    merge = TimestampMerge(WAIT, Clock())
    assert delivered(merge, {A: fetch(0, 30, 10, 20)}) == [("s", 30), ("s", 10), ("s", 20)]


def test_records_held_for_a_partition_read_again_from_an_earlier_offset_are_dropped() -> None:
    merge = TimestampMerge(WAIT, Clock())
    delivered(merge, {A: fetch(0, 10, 20, 30), B: fetch(0, 15)})  # A's 20 and 30 held
    delivered(merge, {A: fetch(1, 20, 30, 35)})  # after a seek back to offset 1
    assert delivered(merge, {}) == [("s", 20), ("s", 30), ("s", 35)]


def test_every_record_is_delivered_once_and_in_order_across_fetches() -> None:
    merge = TimestampMerge(WAIT, Clock())
    fetches = [
        {A: fetch(0, 1, 5, 9), B: fetch(0, 2, 3)},
        {B: fetch(2, 4, 6, 11)},
        {A: fetch(3, 12), B: fetch(5, 13)},
        {},
    ]
    out = [ts for records in fetches for _, ts in delivered(merge, records)]
    assert out == [1, 2, 3, 4, 5, 6, 9, 11, 12, 13]


def test_records_of_a_partition_faust_does_not_take_now_stay_held() -> None:
    merge = TimestampMerge(WAIT, Clock())
    merge.takes = lambda tp: tp == B  # A paused, say while a rebalance recovers tables
    assert delivered(merge, {A: fetch(0, 10), B: fetch(0, 20)}) == []
    assert delivered(merge, {}) == [("t", 20)]
    merge.takes = lambda tp: True
    assert delivered(merge, {}) == [("s", 10)]


def test_records_of_a_partition_not_merged_faust_does_not_take_now_stay_held() -> None:
    """Faust drops a record of a paused partition without moving its read offset: handed
    over, the record would be lost, and the next one would not even show a gap."""
    merge = TimestampMerge(WAIT, Clock())
    merge.merged_topics = frozenset({A.topic})
    subject = TP("duanka-identity-events", 5)
    merge.takes = lambda tp: tp != subject  # paused while a rebalance recovers tables
    faust = FaustReader(merge)
    faust.consume({subject: fetch(4, 50, 60)})
    assert faust.processed == []
    merge.takes = lambda tp: True
    faust.consume({subject: fetch(6, 70)})
    assert faust.processed == [4, 5, 6]
    assert faust.gaps == []


def test_a_partition_not_merged_paused_while_it_is_handed_over_keeps_the_rest() -> None:
    merge = TimestampMerge(WAIT, Clock())
    merge.merged_topics = frozenset({A.topic})
    subject = TP("duanka-identity-events", 5)
    faust = FaustReader(merge)
    records = merge.iterate({subject: fetch(0, 10, 20, 30)})
    faust.take(*next(records))
    merge.takes = lambda tp: tp != subject  # a rebalance pauses it meanwhile
    for tp, record in records:
        faust.take(tp, record)
    merge.takes = lambda tp: True
    faust.consume({})
    assert faust.processed == [0, 1, 2]


def behind_merge(clock: Clock, highwaters: dict[TP, int]) -> TimestampMerge:
    merge = TimestampMerge(WAIT, clock, BEHIND_WAIT)
    merge.highwater = highwaters.get
    return merge


def test_a_partition_behind_its_high_watermark_holds_others_while_a_busy_worker_reads() -> None:
    clock = Clock()
    merge = behind_merge(clock, {A: 3, B: 10})  # B has 10 records, 1 fetched
    assert delivered(merge, {A: fetch(0, 100, 120), B: fetch(0, 90)}) == [("t", 90)]
    clock.now = 1.0  # ten merge waits later: B is behind, so A's records wait for it
    assert delivered(merge, {A: fetch(2, 130)}) == []
    clock.now = 2.0
    assert delivered(merge, {B: fetch(1, 95, 110)}) == [("t", 95), ("s", 100), ("t", 110)]


def test_a_caught_up_partition_holds_others_only_for_the_merge_wait() -> None:
    clock = Clock()
    merge = behind_merge(clock, {A: 2, B: 1})  # both fetched up to their high watermarks
    delivered(merge, {A: fetch(0, 100, 120), B: fetch(0, 90)})
    clock.now = 1.0
    assert delivered(merge, {A: fetch(2, 130)}) == [("s", 100), ("s", 120), ("s", 130)]


def test_a_behind_partition_that_delivers_nothing_holds_no_one_after_the_behind_wait() -> None:
    clock = Clock()
    merge = behind_merge(clock, {A: 3, B: 10})  # B's high watermark past its last record
    delivered(merge, {A: fetch(0, 100), B: fetch(0, 90)})
    clock.now = BEHIND_WAIT - 0.5
    assert delivered(merge, {A: fetch(1, 120)}) == []
    clock.now = BEHIND_WAIT
    assert delivered(merge, {A: fetch(2, 130)}) == [("s", 100), ("s", 120), ("s", 130)]


def test_a_paused_partition_behind_its_high_watermark_holds_no_one() -> None:
    clock = Clock()
    merge = behind_merge(clock, {A: 3, B: 10})
    merge.takes = lambda tp: tp == A  # B paused, say while a rebalance recovers tables
    delivered(merge, {A: fetch(0, 100), B: fetch(0, 90)})
    clock.now = 1.0
    assert delivered(merge, {A: fetch(1, 120)}) == [("s", 100), ("s", 120)]


def test_topics_not_merged_are_delivered_as_fetched() -> None:
    merge = TimestampMerge(WAIT, Clock())
    merge.merged_topics = frozenset({A.topic, B.topic})
    subject = TP("duanka-identity-events", 0)
    records = {A: fetch(0, 100, 200), subject: fetch(0, 50, 500), B: fetch(0, 150)}
    assert delivered(merge, records) == [("d", 50), ("d", 500), ("s", 100), ("t", 150)]


def test_a_revoked_partition_is_forgotten() -> None:
    merge = TimestampMerge(WAIT, Clock())
    delivered(merge, {A: fetch(0, 10, 20), B: fetch(0, 15)})  # A's 20 held for B
    merge.forget({A})
    assert delivered(merge, {}) == []
    assert delivered(merge, {A: fetch(1, 20)}) == []  # read again from offset 1; B is active
    assert delivered(merge, {}) == [("s", 20)]  # once


class FaustReader:
    """Faust's consumer loop as far as read offsets go: a record below a partition's read
    offset is dropped, one further than the next offset marks a gap."""

    def __init__(self, merge: TimestampMerge) -> None:
        self.read: dict[TP, int] = {}
        self.processed: list[int] = []
        self.gaps: list[tuple[int, int]] = []
        merge.set_read_offset = self.read.__setitem__
        self.merge = merge

    def consume(self, records: dict[TP, list[Record]]) -> None:
        for tp, record in self.merge.iterate(records):
            self.take(tp, record)

    def take(self, tp: TP, record: Record) -> None:
        """A record handed over: Faust drops one of a partition it does not take now."""
        if self.merge.takes(tp):
            self.handle(tp, record)

    def handle(self, tp: TP, record: Record) -> None:
        read = self.read.get(tp)
        if read is not None and record.offset < read:
            return  # "DROPPED MESSAGE"
        if read is not None and record.offset - read > 1:
            self.gaps.append((read + 1, record.offset))
        self.processed.append(record.offset)
        self.read[tp] = record.offset


def test_a_seek_while_a_record_is_in_flight_still_reads_again_from_its_offset() -> None:
    merge = TimestampMerge(WAIT, Clock())
    faust = FaustReader(merge)
    records = merge.iterate({A: fetch(5, 10, 20, 30), B: fetch(0, 15)})
    tp, in_flight = next(records)  # Faust is handing A's offset 5 over
    faust.processed.append(in_flight.offset)
    faust.read[A] = 3  # meanwhile the stuck-commit check seeks A back to offset 3
    merge.seek(A, 3)
    faust.read[A] = in_flight.offset  # and when done, Faust sets it back to 5
    for tp, record in records:
        faust.handle(tp, record)
    faust.consume({})
    faust.consume({A: fetch(3, 1, 2, 10, 20, 30)})
    faust.consume({})
    a_offsets = [o for o in faust.processed if o >= 3]
    assert a_offsets == [5, 3, 4, 5, 6, 7]
    assert faust.gaps == []


def test_records_held_when_a_partition_is_sought_back_are_never_handed_over() -> None:
    merge = TimestampMerge(WAIT, Clock())
    faust = FaustReader(merge)
    faust.consume({A: fetch(5, 10, 20, 30), B: fetch(0, 15)})  # A's offsets 6 and 7 held for B
    faust.read[A] = 3  # the stuck-commit check seeks A back to offset 3
    merge.seek(A, 3)
    faust.consume({})  # 6 would make Faust skip 3 to 5
    faust.consume({A: fetch(3, 1, 2, 10, 20, 30)})
    faust.consume({})
    assert faust.processed == [5, 0, 3, 4, 5, 6, 7]
    assert faust.gaps == []


def test_a_partition_not_merged_is_handed_over_again_from_where_it_was_sought() -> None:
    merge = TimestampMerge(WAIT, Clock())
    merge.merged_topics = frozenset({A.topic})
    faust = FaustReader(merge)
    subject = TP("duanka-account-events", 3)
    # offsets 0 to 3 were fetched while Faust recovered tables, and dropped
    records = merge.iterate({subject: fetch(4, 1, 2, 3, 4)})
    tp, in_flight = next(records)  # Faust is handing offset 4 over
    merge.seek(subject, 0)  # meanwhile the partition is sought to 0
    faust.read.pop(subject, None)
    faust.handle(tp, in_flight)  # and when done, Faust sets its read offset to 4
    for tp, record in records:  # the rest of that fetch is not handed over
        faust.handle(tp, record)
    faust.consume({subject: fetch(8, 9)})  # fetched before aiokafka's seek: dropped
    faust.consume({subject: fetch(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)})
    assert faust.processed == [4, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert faust.gaps == []


class SeekingConsumer:
    """What Faust's `Consumer.perform_seek` and `seek` use of the consumer: the committed
    offsets of the assigned partitions, the earliest ones, its read and committed offsets,
    and aiokafka's seek (recorded). `refetched` is fetched while aiokafka seeks the
    partitions one after the other."""

    def __init__(
        self,
        faust: FaustReader,
        committed: dict[TP, int | None],
        refetched: dict[TP, list[Record]] | None = None,
        fetched_meanwhile: dict[TP, list[Record]] | None = None,
    ):
        self.scheduler = faust.merge
        self.app = SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=lambda topic: True))
        self._read_offset = faust.read
        self._committed_offset: dict[TP, int | None] = {}
        self._committed = committed
        self._faust, self._refetched = faust, refetched or {}
        self._fetched_meanwhile = fetched_meanwhile or {}
        self.sought: dict[TP, int] = {}

    async def seek_to_committed(self) -> dict[TP, int | None]:
        self._faust.consume(self._refetched)
        return self._committed

    async def earliest_offsets(self, *partitions: TP) -> dict[TP, int]:
        if self._fetched_meanwhile:
            self._faust.consume(self._fetched_meanwhile)
        return dict.fromkeys(partitions, 0)

    async def seek_wait(self, partitions: dict[TP, int]) -> None:
        self.sought.update(partitions)
        self._read_offset.update(partitions)

    def assignment(self) -> set[TP]:
        return set(self._committed)


async def test_faust_s_seek_is_followed_by_a_seek_of_every_partition_through_the_merge() -> None:
    tell_seeks()
    clock = Clock()
    merge = TimestampMerge(WAIT, clock, BEHIND_WAIT)
    merge.merged_topics = frozenset({A.topic, B.topic})
    faust = FaustReader(merge)
    subject = TP("duanka-identity-events", 0)
    faust.consume({A: fetch(3, 1, 2, 10, 20, 30), B: fetch(0, 15, 40)})
    assert faust.processed == [3, 4, 5, 0, 6, 7]  # B's 1 held
    # while aiokafka seeks, A is fetched again from its committed offset 3, and the merge
    # hands that over (Faust drops what is below its read offset); B and the subject
    # partition `fresh` have nothing committed, and Faust leaves them where they were
    fresh = TP("duanka-account-events", 2)
    refetched = {A: fetch(3, 1, 2, 10, 20, 30)}
    seeking = SeekingConsumer(faust, {A: 3, B: None, subject: 7, fresh: None}, refetched)
    await Consumer.perform_seek(seeking)  # type: ignore[arg-type]
    # every partition with a commit once more, now that nothing is in flight; B and `fresh`
    # from their earliest offsets (Faust may have dropped a fetch of them whole)
    assert seeking.sought == {A: 3, B: 0, subject: 7, fresh: 0}
    assert seeking._committed_offset == {A: 3, B: 0, subject: 7, fresh: 0}
    faust.processed.clear()
    faust.consume({fresh: fetch(5, 90), B: fetch(2, 60)})  # fetched before the seek: dropped
    faust.consume({A: fetch(3, 1, 2, 10, 20, 30), fresh: fetch(0, 15, 40), B: fetch(0, 15, 40)})
    faust.consume({A: fetch(8, 50), subject: fetch(7, 5)})
    faust.consume({})
    assert faust.processed == [0, 1, 3, 4, 5, 0, 6, 7, 7, 1, 8]
    assert faust.gaps == []
    assert clock.now == 0


async def test_the_partitions_are_sought_to_their_commits_whatever_is_fetched_meanwhile() -> None:
    """Records handed over while the earliest offsets are looked up move Faust's read
    offsets on (a recovering worker drops them: the partitions are paused); the partitions
    are still sought to their committed offsets, and that is what counts as committed."""
    tell_seeks()
    merge = TimestampMerge(WAIT, Clock(), BEHIND_WAIT)
    merge.merged_topics = frozenset({A.topic})
    faust = FaustReader(merge)
    subject, fresh = TP("duanka-account-events", 2), TP("duanka-account-events", 3)
    meanwhile = {subject: fetch(10, *range(66))}
    seeking = SeekingConsumer(faust, {subject: 10, fresh: None}, fetched_meanwhile=meanwhile)
    await Consumer.perform_seek(seeking)  # type: ignore[arg-type]
    assert faust.processed[-1] == 75  # Faust read on meanwhile
    assert seeking.sought == {subject: 10, fresh: 0}
    assert seeking._committed_offset == {subject: 10, fresh: 0}


def test_fetches_from_before_a_seek_are_dropped_until_the_partition_is_fetched_again() -> None:
    clock = Clock()
    merge = TimestampMerge(WAIT, clock, BEHIND_WAIT)
    faust = FaustReader(merge)
    faust.consume({A: fetch(3, 1, 2, 10, 20, 30), B: fetch(0, 15)})  # A's 6 and 7 held
    faust.read[A] = 3
    merge.seek(A, 3)
    faust.consume({A: fetch(8, 40, 50)})  # fetched before aiokafka's seek: dropped
    faust.consume({A: fetch(3, 1, 2, 10, 20, 30), B: fetch(1, 60)})
    faust.consume({A: fetch(8, 40, 50)})
    faust.consume({})
    assert [o for o in faust.processed if o not in (0, 1)][3:] == [3, 4, 5, 6, 7, 8, 9]
    assert faust.gaps == []


def test_a_partition_sought_to_a_transaction_marker_is_read_on_after_it() -> None:
    merge = TimestampMerge(WAIT, Clock())
    faust = FaustReader(merge)
    faust.consume({A: fetch(3, 1, 2)})
    faust.read[A] = 5
    merge.seek(A, 5)  # offset 5 is a transaction's marker: the first record is at 6
    faust.consume({A: fetch(6, 10)})
    assert faust.processed == [3, 4, 6]


def test_while_held_nothing_merged_is_handed_over_and_after_it_the_order_holds() -> None:
    clock = Clock()
    merge = behind_merge(clock, {A: 3, B: 10, C: 1})
    merge.merged_topics = frozenset({A.topic, B.topic})
    assert delivered(merge, {A: fetch(0, 100), B: fetch(0, 90)}) == [("t", 90)]
    merge.hold(True)  # input paused: B is not fetched while it lasts
    assert delivered(merge, {C: fetch(0, 500)}) == [("a", 500)]  # not merged: as fetched
    clock.now = 60.0  # long past the behind wait
    assert delivered(merge, {}) == []
    merge.hold(False)  # B counts as fetched just now, behind: A's 100 still waits for it
    assert delivered(merge, {}) == []
    clock.now = 61.0
    assert delivered(merge, {B: fetch(1, 95, 105)}) == [("t", 95), ("s", 100)]  # A behind
