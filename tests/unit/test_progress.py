"""What a worker reports of the input partitions it reads: newest forwarded event time,
caught up, quiet; and the report's wire form."""

from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from services.detector import progress
from services.detector.core.ordering import OriginProgress
from services.detector.progress import InputProgress, decode_report, encode_report

TOPIC_KINDS: Any = {"p.transfers": "transfers", "p.watchlist": "watchlist"}
TRANSFERS = TP("p.transfers", 2)
WATCHLIST = TP("p.watchlist", 0)


def consumer(highwater: int | None, committed: int | None = None) -> Any:
    return SimpleNamespace(
        assignment=lambda: {TRANSFERS, WATCHLIST},
        highwater=lambda tp: highwater,
        _committed_offset={TRANSFERS: committed},
    )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    return now


def test_a_partition_is_caught_up_once_everything_up_to_its_high_watermark_is_handled(
    clock: list[float],
) -> None:
    reads = InputProgress()
    assert reads.report(consumer(None), TOPIC_KINDS) == {
        "transfers/2": OriginProgress(None, caught_up=False, quiet=False)
    }  # not fetched yet: unknown; the watchlist carries no event time and is left out
    assert reads.report(consumer(5, committed=5), TOPIC_KINDS)["transfers/2"].caught_up
    reads.forwarded(TRANSFERS, 700)
    reads.handled(TRANSFERS, 5)
    assert reads.report(consumer(7), TOPIC_KINDS)["transfers/2"] == OriginProgress(
        700, caught_up=False, quiet=False
    )
    reads.forwarded(TRANSFERS, 650)  # newest stays the newest
    reads.handled(TRANSFERS, 6)
    assert reads.report(consumer(7), TOPIC_KINDS)["transfers/2"] == OriginProgress(
        700, caught_up=True, quiet=False
    )


def test_a_caught_up_partition_is_quiet_after_forwarding_nothing_for_a_while(
    clock: list[float],
) -> None:
    reads = InputProgress()
    reads.forwarded(TRANSFERS, 700)
    reads.handled(TRANSFERS, 0)
    clock[0] += progress.QUIET_AFTER_S - 0.01
    assert not reads.report(consumer(1), TOPIC_KINDS)["transfers/2"].quiet
    clock[0] += 0.01
    assert reads.report(consumer(1), TOPIC_KINDS)["transfers/2"].quiet
    assert not reads.report(consumer(2), TOPIC_KINDS)["transfers/2"].quiet  # more to read
    reads.forget({TRANSFERS})
    assert reads.report(consumer(2, committed=2), TOPIC_KINDS)["transfers/2"] == OriginProgress(
        None, caught_up=True, quiet=True
    )


def test_a_report_reads_back_as_written() -> None:
    report = {
        "transfers/2": OriginProgress(700, caught_up=True, quiet=False),
        "sim-activations/0": OriginProgress(None, caught_up=False, quiet=False),
    }
    assert decode_report(encode_report(report)) == report
