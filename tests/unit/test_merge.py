"""Fetched records are delivered oldest first across partitions, each partition in its own
order; what an active partition may still precede is held, but never for long."""

from typing import NamedTuple

from faust.types import TP

from services.detector.merge import TimestampMerge

A, B = TP("sim-activations", 0), TP("transfers", 3)
WAIT = 0.1


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
    merge.deliverable = lambda: {B}  # A paused, say while a rebalance recovers tables
    assert delivered(merge, {A: fetch(0, 10), B: fetch(0, 20)}) == []
    assert delivered(merge, {}) == [("t", 20)]
    merge.deliverable = lambda: None
    assert delivered(merge, {}) == [("s", 10)]
