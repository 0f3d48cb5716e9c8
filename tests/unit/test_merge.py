"""Fetched records are delivered oldest first across partitions, each partition in its own
order, and what may precede a partition's next fetch is held until it arrives."""

from typing import NamedTuple

from faust.types import TP

from services.detector.merge import TimestampMerge

A, B = TP("sim-activations", 0), TP("transfers", 3)


class Record(NamedTuple):
    offset: int
    timestamp: int


def fetch(first_offset: int, *timestamps: int) -> list[Record]:
    return [Record(first_offset + i, t) for i, t in enumerate(timestamps)]


def delivered(merge: TimestampMerge, records: dict[TP, list[Record]]) -> list[tuple[str, int]]:
    return [(tp.topic, record.timestamp) for tp, record in merge.iterate(records)]


def test_partitions_are_merged_by_timestamp_and_the_rest_waits_for_the_next_fetch() -> None:
    merge = TimestampMerge()
    first = delivered(merge, {A: fetch(0, 10, 20, 30, 40), B: fetch(0, 15, 25)})
    assert first == [("sim-activations", 10), ("transfers", 15), ("sim-activations", 20),
                     ("transfers", 25)]  # fmt: skip
    second = delivered(merge, {B: fetch(2, 27, 50)})
    assert second == [("transfers", 27), ("sim-activations", 30), ("sim-activations", 40),
                      ("transfers", 50)]  # fmt: skip


def test_an_empty_fetch_releases_everything_held() -> None:
    merge = TimestampMerge()
    delivered(merge, {A: fetch(0, 10, 20, 30), B: fetch(0, 15)})
    assert delivered(merge, {}) == [("sim-activations", 20), ("sim-activations", 30)]
    assert delivered(merge, {}) == []


def test_a_partition_keeps_its_own_order_even_when_its_timestamps_go_back() -> None:
    merge = TimestampMerge()
    records = delivered(merge, {A: fetch(0, 30, 10, 20)})
    assert records == [("sim-activations", 30), ("sim-activations", 10), ("sim-activations", 20)]


def test_records_held_for_a_partition_read_again_from_an_earlier_offset_are_dropped() -> None:
    merge = TimestampMerge()
    delivered(merge, {A: fetch(0, 10, 20, 30), B: fetch(0, 15)})  # A's 20 and 30 held
    again = delivered(merge, {A: fetch(1, 20, 30, 35)})  # after a seek back to offset 1
    assert again == [("sim-activations", 20), ("sim-activations", 30), ("sim-activations", 35)]


def test_every_record_is_delivered_exactly_once_across_fetches() -> None:
    merge = TimestampMerge()
    fetches = [
        {A: fetch(0, 1, 5, 9), B: fetch(0, 2, 3)},
        {B: fetch(2, 4, 6, 11)},
        {A: fetch(3, 12), B: fetch(5, 13)},
        {},
    ]
    out = [ts for records in fetches for _, ts in delivered(merge, records)]
    assert sorted(out) == [1, 2, 3, 4, 5, 6, 9, 11, 12, 13]
    assert out == sorted(out)
