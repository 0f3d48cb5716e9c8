"""Reading counts only along consecutive offsets (`core.read_frontier`), and a subject
partition lets nothing go while a message before one it has read is missing."""

from duanka.detector.core.ordering import EventOrder, OriginProgress
from duanka.detector.core.read_frontier import ReadFrontier


def test_messages_count_in_a_row_from_where_reading_began() -> None:
    frontier = ReadFrontier(start=4)
    assert frontier.read(4)
    assert frontier.read(5)
    assert not frontier.missing


def test_after_a_message_missing_nothing_counts_until_it_is_read_again() -> None:
    """Faust dropped offset 4 while it recovered; the partition is read again from its
    commit once that is found stuck."""
    frontier = ReadFrontier(start=4)
    assert not frontier.read(5)
    assert not frontier.read(6)
    assert frontier.missing
    assert frontier.read(2)  # read again from before: counted before
    assert frontier.missing
    assert [frontier.read(offset) for offset in (3, 4, 5)] == [True] * 3
    assert frontier.missing  # 6 was read, but not again since 4 came
    assert frontier.read(6)
    assert not frontier.missing


def test_a_hole_known_is_passed_and_one_not_known_once_the_same_message_comes_first_again() -> None:
    known = ReadFrontier(start=4, hole=lambda offset: offset == 4)
    assert known.read(6)
    unknown = ReadFrontier(start=4)
    assert not unknown.read(6)
    assert not unknown.read(7)
    assert unknown.read(6)  # read again from the commit: 6 is first again
    assert unknown.read(7)


def test_without_a_start_the_first_message_counts() -> None:
    for start in (None, -1):
        frontier = ReadFrontier(start)
        assert frontier.read(9)
        assert not frontier.read(11)


def test_a_subject_partition_lets_nothing_go_while_a_message_is_missing() -> None:
    """A report read after a missing bundle says its origin has passed events the bundle
    brings: without the missing one, later events would go first."""
    events: EventOrder[str] = EventOrder(("transfers/0",), 100, start=0)
    events.read(1)  # offset 0, a bundle, was dropped
    events.add("later", "transfers/0", 7, 2_000, 50_700)
    events.report({"transfers/0": OriginProgress(3_000, 60_000)})
    assert events.ready() == []
    assert not events.reached("transfers/0", 2_500, 55_000, 9)
    events.read(0)  # read again
    events.add("earlier", "transfers/0", 6, 1_000, 50_600)
    events.read(1)
    assert events.ready() == ["earlier", "later"]
