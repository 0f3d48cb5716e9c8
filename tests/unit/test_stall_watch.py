"""The stall watch: a partition whose commit stays put with messages left is reported once,
with what the consumer knows of it."""

from types import SimpleNamespace
from typing import Any

from faust.types import TP

from duanka.detector.merge import TimestampMerge
from duanka.detector.patches.consumer_state import describe
from duanka.detector.stall_watch import stalled

INPUT = TP("p.transfers", 4)
CHANGELOG = TP("p.duanka-identities-changelog", 4)
TOPICS = {"p.transfers"}


def consumer(committed: int | None, highwater: int | None, assigned: bool = True) -> Any:
    return SimpleNamespace(
        assignment=lambda: {INPUT, CHANGELOG} if assigned else {CHANGELOG},
        highwater=lambda tp: highwater,
        _committed_offset={INPUT: committed, CHANGELOG: None},
        _read_offset={INPUT: 140},
        _paused_partitions={INPUT},
        _active_partitions=set(),
        scheduler=TimestampMerge(),
        flow_active=True,
    )


def test_a_partition_whose_commit_stays_put_with_messages_left_is_reported_once() -> None:
    seen: dict[Any, Any] = {}
    assert stalled(consumer(138, 268), TOPICS, seen, 0.0, after=60.0) == []
    assert stalled(consumer(138, 268), TOPICS, seen, 59.0, after=60.0) == []
    assert stalled(consumer(138, 268), TOPICS, seen, 60.0, after=60.0) == [INPUT]
    assert stalled(consumer(138, 268), TOPICS, seen, 120.0, after=60.0) == []  # once per stall
    assert stalled(consumer(139, 268), TOPICS, seen, 121.0, after=60.0) == []  # it moved
    assert stalled(consumer(139, 268), TOPICS, seen, 181.0, after=60.0) == [INPUT]


def test_a_partition_read_to_its_end_or_given_up_is_not_stalled() -> None:
    seen: dict[Any, Any] = {}
    assert stalled(consumer(268, 268), TOPICS, seen, 0.0, after=60.0) == []
    assert stalled(consumer(268, 268), TOPICS, seen, 100.0, after=60.0) == []
    assert stalled(consumer(None, None), TOPICS, seen, 200.0, after=60.0) == []  # not fetched yet
    stalled(consumer(138, 268), TOPICS, seen, 300.0, after=60.0)
    assert stalled(consumer(138, 268, assigned=False), TOPICS, seen, 400.0, after=60.0) == []
    assert seen == {}


def test_the_report_says_what_the_consumer_knows_of_the_partition() -> None:
    text = describe(consumer(138, 268), INPUT)
    assert text == (
        "committed 138, read offset 140, high watermark 268, paused True, active False, "
        "held by the merge 0, flow active True"
    )
