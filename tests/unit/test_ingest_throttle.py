"""The ingest throttle: input stops when a stage partition has more than the lead unread,
and goes on only once every one has at most a quarter of it; unread counts what Faust has
not handed to an agent, as of the last fetch."""

from types import SimpleNamespace
from typing import Any

from faust.types import TP

from duanka.detector.ingest_throttle import Throttle, most_unread

SUBJECTS = TP("p.duanka-identity-events", 2)
LINKER = TP("p.duanka-case-alerts", 0)
INPUT = TP("p.transfers", 2)
STAGES = {SUBJECTS.topic, LINKER.topic}


def test_input_pauses_above_the_lead_and_resumes_at_a_quarter_of_it() -> None:
    throttle = Throttle(lead=64)
    assert [throttle.update(n) for n in (10, 64, 65, 80, 40, 17)] == [
        None, None, True, None, None, None,
    ]  # fmt: skip
    assert throttle.paused
    assert [throttle.update(n) for n in (16, 0, 64, 65)] == [False, None, None, True]


def consumer(highwater: dict[TP, int | None], read: dict[TP, int | None]) -> Any:
    return SimpleNamespace(
        assignment=lambda: set(highwater),
        highwater=highwater.get,
        _read_offset=read,
        _committed_offset={SUBJECTS: 40, LINKER: -1, INPUT: 0},
    )


def test_unread_is_what_lies_past_the_last_message_handed_over() -> None:
    found = consumer({SUBJECTS: 100, LINKER: 30, INPUT: 10_000}, {SUBJECTS: 89, LINKER: 29})
    assert most_unread(found, STAGES) == 10  # the input's backlog does not count
    nothing_read = consumer({SUBJECTS: 100, LINKER: 30}, {SUBJECTS: None, LINKER: None})
    assert most_unread(nothing_read, STAGES) == 60  # from the committed offset, or 0
    not_fetched = consumer({SUBJECTS: None, LINKER: None}, {})
    assert most_unread(not_fetched, STAGES) == 0
