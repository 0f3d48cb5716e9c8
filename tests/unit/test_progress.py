"""What a worker reports of the input partitions it reads (newest forwarded event time, the
write time read through, the write time of the last record), where it writes markers, when
it writes a report, and the report's wire form."""

from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest
from faust.types import TP

from duanka.detector.core.disposition_gate import Position
from duanka.detector.core.ordering import EventOrder, OriginProgress
from duanka.detector.merge import TimestampMerge
from duanka.detector.progress import (
    IDLE_MARKER_S,
    MARKER_AGAIN_S,
    REPORT_INTERVAL_S,
    REPORTED_TOPICS,
    InputProgress,
    Report,
    ReportSchedule,
    decode_report,
    encode_report,
    latest_record,
    reach,
)

TOPIC_KINDS: Any = {
    "p.transfers": "transfers",
    "p.watchlist": "watchlist",
    "p.dispositions": "dispositions",
}
TRANSFERS = TP("p.transfers", 2)
WATCHLIST = TP("p.watchlist", 0)
DISPOSITIONS = TP("p.dispositions", 1)
QUIET = 1_000.0
"""A monotonic time long after anything handled in these tests."""


def reading() -> InputProgress:
    """Input progress whose clock stands at 0: what it handles was handled then."""
    return InputProgress(clock=lambda: 0.0)


def consumer(highwater: int | None, committed: int | None = None) -> Any:
    return SimpleNamespace(
        assignment=lambda: {TRANSFERS, WATCHLIST, DISPOSITIONS},
        highwater=lambda tp: highwater,
        _committed_offset={TRANSFERS: committed},
    )


def test_a_report_holds_every_reported_partition_and_what_was_read_of_it() -> None:
    reads = reading()
    assert reads.report(consumer(None), TOPIC_KINDS, REPORTED_TOPICS) == {
        "transfers/2": OriginProgress(None, None),
        "watchlist/0": OriginProgress(None, None),
    }
    reads.handled(TRANSFERS, 4, 4_000, at=700)
    reads.handled(TRANSFERS, 5, 4_050, at=650)  # late: the newest stays
    reads.handled(WATCHLIST, 0, 4_100)
    reads.handled(WATCHLIST, 1, 4_200, marker=True)
    assert reads.report(consumer(7), TOPIC_KINDS, REPORTED_TOPICS) == {
        "transfers/2": OriginProgress(700, 4_050),
        "watchlist/0": OriginProgress(None, 4_200),
    }
    assert reads.recorded == {TRANSFERS: 4_050, WATCHLIST: 4_100}  # markers are not records
    reads.forget({TRANSFERS})
    assert reads.report(consumer(7), TOPIC_KINDS, REPORTED_TOPICS)["transfers/2"] == OriginProgress(
        None, None
    )


def test_markers_go_to_quiet_partitions_read_to_their_end_until_past_the_reach() -> None:
    reads = reading()
    reads.handled(TRANSFERS, 4, 4_000)
    reads.handled(WATCHLIST, 0, 4_100)
    assert reads.to_mark(consumer(6), TOPIC_KINDS, 5_000, QUIET) == []  # 5 and 1 left
    reads.handled(TRANSFERS, 5, 4_050)
    assert reads.to_mark(consumer(6), TOPIC_KINDS, 5_000, QUIET) == [TRANSFERS]
    reads.mark(TRANSFERS, QUIET)
    assert reads.to_mark(consumer(6), TOPIC_KINDS, 5_000, QUIET + 0.1) == []  # on its way
    assert reads.to_mark(consumer(6), TOPIC_KINDS, 5_000, QUIET + MARKER_AGAIN_S) == [TRANSFERS]
    reads.handled(TRANSFERS, 6, 4_900, marker=True)
    assert TRANSFERS not in reads.unread
    assert reads.to_mark(consumer(7), TOPIC_KINDS, 5_000, QUIET + 0.1) == [TRANSFERS]
    reads.handled(TRANSFERS, 7, 5_000, marker=True)
    assert reads.to_mark(consumer(8), TOPIC_KINDS, 5_000, QUIET) == []  # read past the reach
    assert reads.to_mark(consumer(8), TOPIC_KINDS, 5_001, QUIET) == [TRANSFERS]
    assert reads.to_mark(consumer(8), TOPIC_KINDS, -1, QUIET) == []  # nothing waits


def test_a_partition_that_just_brought_a_record_gets_no_marker() -> None:
    reads = reading()
    reads.handled(TRANSFERS, 5, 4_050)
    now = reads.busy_at[TRANSFERS]
    assert reads.to_mark(consumer(6), TOPIC_KINDS, 5_000, now) == []
    assert reads.to_mark(consumer(6), TOPIC_KINDS, 5_000, now + REPORT_INTERVAL_S) == [TRANSFERS]


def test_a_partition_never_read_is_at_its_committed_offset() -> None:
    reads = reading()  # the watchlist's group never committed: at 0 of 3
    assert reads.to_mark(consumer(3, committed=3), TOPIC_KINDS, 5_000, QUIET) == [TRANSFERS]
    assert reads.to_mark(consumer(4, committed=3), TOPIC_KINDS, 5_000, QUIET) == []


def test_with_no_reach_known_markers_go_every_idle_interval() -> None:
    reads = reading()
    reads.handled(TRANSFERS, 5, 9_000)
    assert TRANSFERS in reads.to_mark(consumer(6), TOPIC_KINDS, None, QUIET)
    reads.mark(TRANSFERS, QUIET)
    reads.handled(TRANSFERS, 6, 9_100, marker=True)  # read back
    assert TRANSFERS not in reads.to_mark(consumer(7), TOPIC_KINDS, None, QUIET + 1)
    assert TRANSFERS in reads.to_mark(consumer(7), TOPIC_KINDS, None, QUIET + IDLE_MARKER_S)


def test_a_report_is_written_only_when_it_says_something_new() -> None:
    schedule = ReportSchedule()
    report = Report({"transfers/2": OriginProgress(700, 5_000)}, 4_000)
    assert not schedule.due(Report({}, 4_000))
    assert schedule.due(report)
    assert not schedule.due(Report(dict(report.origins), 4_000))
    assert schedule.due(Report({"transfers/2": OriginProgress(700, 5_100)}, 4_000))
    assert schedule.due(Report({"transfers/2": OriginProgress(700, 5_100)}, 4_001))


def test_reports_survive_their_wire_form_and_anything_else_is_refused() -> None:
    report = Report(
        {
            "transfers/2": OriginProgress(700, 1_794_100),
            "sim-activations/0": OriginProgress(None, None),
        },
        1_794_000,
    )
    assert decode_report(encode_report(report)) == report
    relayed = report._replace(
        awaiting={"dispositions/1": Position(5, 6, 7)},
        through={"dispositions/1": Position(5, 6, 7)},
    )
    assert decode_report(encode_report(relayed)) == relayed
    for bad in (
        b"[]",
        b'{"origins": {}}',
        b'{"origins": [], "recorded": 1}',
        b'{"origins": {}, "recorded": "1"}',
        b'{"origins": {"transfers/2": [1, 2, 3]}, "recorded": 1}',
        b'{"origins": {"transfers/2": [1, "x"]}, "recorded": 1}',
        b'{"origins": {"transfers/2": [true, 2]}, "recorded": 1}',
    ):
        with pytest.raises(ValueError, match="progress"):
            decode_report(bad)
        with pytest.raises(ValueError, match="progress"):  # refused again, not remembered
            decode_report(bad)


def test_one_report_sent_to_every_partition_of_a_kind_is_decoded_once() -> None:
    value = encode_report(Report({"transfers/2": OriginProgress(700, 1_794_100)}, None))
    assert decode_report(value) is decode_report(bytes(value))


def test_the_latest_record_known_and_the_reach_of_markers() -> None:
    reads = reading()
    order = EventOrder(["transfers/2"], 100)
    worker: Any = SimpleNamespace(partitions=SimpleNamespace(orders={}), input_progress=reads)
    assert reach(worker, 501) is None  # no subject partition: others' records unknown
    worker.partitions.orders[("account", 0)] = order
    assert latest_record(worker) is None and reach(worker, 501) == -1  # nothing waits
    order.report({}, 7_000)
    reads.handled(TRANSFERS, 4, 6_000)
    assert latest_record(worker) == 7_000 and reach(worker, 501) == 7_501


def take(reads: InputProgress, offset: int, written: int, at: int) -> None:
    """What ingest does with a transfer read at `offset`: handled if it is to be."""
    if reads.read(TRANSFERS, offset):
        reads.handled(TRANSFERS, offset, written, at=at)


def test_nothing_after_a_message_not_handled_counts_until_it_is() -> None:
    """Faust can drop a fetched message while it recovers (a worker in the soak lost the
    opening of a corporate account this way, and its incoming transfers raised a fan-in
    alert replay does not): nothing after it is handled, and the partition is read
    through nothing past it, until it is read again from its committed offset."""
    reads = InputProgress(clock=lambda: 0.0, start=lambda tp: 4)
    take(reads, 5, 4_050, 700)  # 4 was dropped
    take(reads, 6, 4_100, 710)
    assert reads.report(consumer(7), TOPIC_KINDS, REPORTED_TOPICS)["transfers/2"] == (
        OriginProgress(None, None)
    )
    for offset, written, at in [(4, 4_000, 690), (5, 4_050, 700), (6, 4_100, 710)]:
        take(reads, offset, written, at)  # read again from the commit
    assert reads.report(consumer(7), TOPIC_KINDS, REPORTED_TOPICS)["transfers/2"] == (
        OriginProgress(710, 4_100)
    )


def test_a_hole_in_the_topic_is_passed() -> None:
    """Compaction and transaction markers leave offsets with no message: one the consumer
    knows of is passed at once; one it does not (right after a seek, Faust notes none) once
    the message after it comes first again, when the partition is read again."""
    reads = InputProgress(clock=lambda: 0.0, start=lambda tp: 4, hole=lambda tp, o: o == 4)
    take(reads, 5, 4_050, 700)
    assert reads.report(consumer(7), TOPIC_KINDS, REPORTED_TOPICS)["transfers/2"] == (
        OriginProgress(700, 4_050)
    )
    unknown = InputProgress(clock=lambda: 0.0, start=lambda tp: 4)
    take(unknown, 5, 4_050, 700)
    take(unknown, 6, 4_100, 710)
    assert unknown.report(consumer(7), TOPIC_KINDS, REPORTED_TOPICS)["transfers/2"] == (
        OriginProgress(None, None)
    )
    take(unknown, 5, 4_050, 700)  # read again: 5 comes first again
    take(unknown, 6, 4_100, 710)
    assert unknown.report(consumer(7), TOPIC_KINDS, REPORTED_TOPICS)["transfers/2"] == (
        OriginProgress(710, 4_100)
    )


class Record(NamedTuple):
    offset: int
    timestamp: int


def test_a_partition_is_read_through_just_short_of_its_next_record_once_all_before_is_handled() -> (
    None
):
    merge = TimestampMerge(clock=lambda: 0.0)
    merge.highwater = {DISPOSITIONS: 2, TRANSFERS: 10}.get
    reads = InputProgress(clock=lambda: 0.0, upcoming=merge.upcoming)
    assert reads.written_through(DISPOSITIONS) is None  # nothing fetched: nothing known
    fetched = {DISPOSITIONS: [Record(0, 5_000), Record(1, 9_000)], TRANSFERS: [Record(0, 1_000)]}
    handed = list(merge.iterate(fetched))  # the transfer; the dispositions wait for it
    assert [tp for tp, _ in handed] == [TRANSFERS]
    assert reads.written_through(DISPOSITIONS) == 4_999  # its first record is that far ahead
    merge.highwater = {DISPOSITIONS: 2, TRANSFERS: 1}.get  # the transfers caught up
    handed = list(merge.iterate({}))
    assert [r.offset for tp, r in handed if tp == DISPOSITIONS] == [0, 1]
    assert reads.written_through(DISPOSITIONS) is None  # handed over, not handled yet
    reads.handled(DISPOSITIONS, 0, 5_000)
    assert reads.written_through(DISPOSITIONS) == 5_000  # the merge holds nothing further


def test_nothing_is_claimed_past_a_record_handed_over_and_not_handled() -> None:
    merge = TimestampMerge(clock=lambda: 0.0)
    merge.highwater = {DISPOSITIONS: 3, TRANSFERS: 10}.get
    reads = InputProgress(clock=lambda: 0.0, upcoming=merge.upcoming)
    fetched = {DISPOSITIONS: [Record(0, 1_000), Record(1, 5_000)], TRANSFERS: [Record(0, 2_000)]}
    list(merge.iterate(fetched))  # the disposition at 1,000 goes; the one at 5,000 waits
    assert reads.written_through(DISPOSITIONS) is None  # 1,000 not handled: nothing known
    reads.handled(DISPOSITIONS, 0, 1_000)
    assert reads.written_through(DISPOSITIONS) == 4_999
    merge.seek(DISPOSITIONS, 0)  # read again from the start: nothing held, nothing claimed
    assert reads.written_through(DISPOSITIONS) == 1_000
