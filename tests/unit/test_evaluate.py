"""`duanka evaluate`'s grouping: a case mixing two injections is impure, an injection split
over two cases incomplete."""

from datetime import UTC, datetime

from duanka.replay.evaluate import Grouping, grouping
from duanka.schemas.alerts import EntityCounts
from duanka.schemas.cases import Case, Members

AT = datetime(2026, 11, 1, tzinfo=UTC)


def case(case_id: str, alerts: list[str], status: str = "open") -> Case:
    return Case(
        case_id=case_id * 32,
        status=status,
        members=Members(),
        member_counts=EntityCounts(),
        alerts=[a * 32 for a in alerts],
        alert_count=len(alerts),
        rules={},
        institutions=[],
        amount_minor=0,
        severity="high",
        first_at=AT,
        last_at=AT,
        summary="",
        updated_at=AT,
    )


GANGS = {("identity", "p1"): "gang-1", ("device", "d1"): "gang-1", ("identity", "p2"): "gang-2"}
SUBJECTS = {
    "a" * 32: ("identity", "p1"),
    "b" * 32: ("device", "d1"),
    "c" * 32: ("identity", "p2"),
    "d" * 32: ("account", "not-injected"),
}


def test_one_case_per_injection_is_pure_and_complete() -> None:
    cases = [case("1", ["a", "b"]), case("2", ["c", "d"]), case("3", ["a"], "merged")]
    assert grouping(GANGS, SUBJECTS, cases) == Grouping(2, 2, 2, 2)


def test_a_case_mixing_two_injections_is_not_pure() -> None:
    assert grouping(GANGS, SUBJECTS, [case("1", ["a", "b", "c"])]) == Grouping(1, 0, 2, 2)


def test_an_injection_split_over_two_cases_is_not_complete() -> None:
    cases = [case("1", ["a"]), case("2", ["b"]), case("3", ["c"])]
    assert grouping(GANGS, SUBJECTS, cases) == Grouping(3, 3, 2, 1)


def test_confirmed_and_closed_cases_count_as_well_as_open_ones() -> None:
    cases = [case("1", ["a", "b"], "confirmed"), case("2", ["c"], "closed")]
    assert grouping(GANGS, SUBJECTS, cases) == Grouping(2, 2, 2, 2)
