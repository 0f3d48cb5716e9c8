"""What a worker reports of the input partitions it reads: newest forwarded event time, when
it was caught up as of, and when its newest forwarded record was written; when it writes a
report; and the report's wire form."""

from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from services.detector import progress
from services.detector.core.ordering import OriginProgress
from services.detector.progress import (
    IDLE_REPORT_S,
    InputProgress,
    ReportSchedule,
    decode_report,
    encode_report,
)

TOPIC_KINDS: Any = {"p.transfers": "transfers", "p.watchlist": "watchlist"}
TRANSFERS = TP("p.transfers", 2)
WATCHLIST = TP("p.watchlist", 0)


def consumer(
    highwater: int | None, fetched_at: int | None = 5_000, committed: int | None = None
) -> Any:
    fetcher = SimpleNamespace(last_poll_timestamp=lambda tp: fetched_at)
    return SimpleNamespace(
        assignment=lambda: {TRANSFERS, WATCHLIST},
        highwater=lambda tp: highwater,
        _committed_offset={TRANSFERS: committed},
        _thread=SimpleNamespace(_ensure_consumer=lambda: fetcher),
    )


def test_a_partition_is_caught_up_as_of_the_fetch_of_the_high_watermark_it_reached() -> None:
    reads = InputProgress()
    assert reads.report(consumer(None, fetched_at=None), TOPIC_KINDS) == {
        "transfers/2": OriginProgress(None, caught_up_at=None),
        "watchlist/0": OriginProgress(None, caught_up_at=None),
    }  # not fetched yet: unknown
    assert reads.report(consumer(5, committed=5), TOPIC_KINDS)["transfers/2"].caught_up_at == 5_000
    reads.forwarded(TRANSFERS, 700, 4_000)
    reads.handled(TRANSFERS, 5)
    reads.forwarded(WATCHLIST, None, 4_100)  # a watchlist record: no event time
    assert reads.report(consumer(7), TOPIC_KINDS) == {
        "transfers/2": OriginProgress(700, None, written=4_000),
        "watchlist/0": OriginProgress(None, None, written=4_100),
    }
    reads.forwarded(TRANSFERS, 650, 4_050)  # newest stays the newest
    reads.handled(TRANSFERS, 6)
    assert reads.report(consumer(7, fetched_at=6_000), TOPIC_KINDS)["transfers/2"] == (
        OriginProgress(700, caught_up_at=6_000, written=4_050)
    )


def test_a_partition_given_up_starts_afresh_from_its_commit() -> None:
    reads = InputProgress()
    reads.forwarded(TRANSFERS, 700, 4_000)
    reads.handled(TRANSFERS, 8)
    reads.forget({TRANSFERS})
    assert reads.report(consumer(9, committed=2), TOPIC_KINDS)["transfers/2"] == (
        OriginProgress(None, caught_up_at=None)
    )


def test_a_report_reads_back_as_written() -> None:
    report = {
        "transfers/2": OriginProgress(700, caught_up_at=1_795_000_000_000, written=1_794_000),
        "sim-activations/0": OriginProgress(None, caught_up_at=None),
    }
    assert decode_report(encode_report(report)) == report


def test_a_report_of_an_earlier_form_counts_for_what_it_says() -> None:
    earliest = b'{"transfers/2": [700, true, true]}'
    assert decode_report(earliest) == {"transfers/2": OriginProgress(700, caught_up_at=None)}
    earlier = b'{"transfers/2": [700, 5000]}'
    assert decode_report(earlier) == {"transfers/2": OriginProgress(700, 5_000, written=None)}


def test_a_partition_revoked_while_reporting_is_left_out() -> None:
    def revoked(tp: TP) -> int:
        raise AssertionError("Partition is not assigned")

    gone = consumer(7)
    gone.highwater = revoked
    assert InputProgress().report(gone, TOPIC_KINDS) == {}


def test_reports_bringing_only_fresher_fetches_are_written_often_only_while_busy() -> None:
    schedule = ReportSchedule()
    fresh = {"transfers/2": OriginProgress(700, caught_up_at=5_000)}
    fresher = {"transfers/2": OriginProgress(700, caught_up_at=5_100)}
    assert not schedule.due({}, 1, 0.0, busy=False)  # nothing held, nothing to say
    assert schedule.due(fresh, 1, 0.0, busy=False)  # the first
    assert not schedule.due(fresh, 1, 0.1, busy=True)  # nothing new at all
    assert schedule.due(fresher, 1, 0.1, busy=True)
    assert not schedule.due(fresh, 1, 0.2, busy=False)  # idle: fresher fetches wait
    assert schedule.due(fresh, 1, 0.1 + IDLE_REPORT_S, busy=False)
    behind = {"transfers/2": OriginProgress(700, caught_up_at=None)}
    assert schedule.due(behind, 1, 1.2, busy=False)  # no longer caught up: at once
    assert schedule.due(behind, 2, 1.3, busy=False)  # a new generation: at once


def test_a_worker_is_busy_for_a_while_after_it_forwarded_an_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress.time, "monotonic", lambda: 100.0)
    reads = InputProgress()
    assert not reads.busy(100.0)
    reads.forwarded(TRANSFERS, 700, 4_000)
    assert reads.busy(100.0 + IDLE_REPORT_S - 0.01)
    assert not reads.busy(100.0 + IDLE_REPORT_S)
