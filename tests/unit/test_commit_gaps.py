"""Faust's commit bookkeeping, guarded: a message missing before the first acknowledged one
holds the commit back (Faust alone commits past a single missing message), while gaps Faust
knows of in the topic still let it through, and offsets acknowledged twice do not slow it;
events given up are not committed past; and the stuck-commit check tells a lost message
from a subject event held for its turn."""

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer
from faust.types import tuples
from intervaltree import IntervalTree

from duanka.detector.app import create_detector
from duanka.detector.core.ordering import EventOrder
from duanka.detector.patches.commit_head import forget_revoked, guard_commits, withhold
from duanka.detector.patches.consumer_state import stalled_partitions
from duanka.settings import Settings
from duanka.topics import subject_events_topic

TP = ("transfers", 4)


def consumer(
    acked: list[int],
    committed: int | None,
    gap: tuple[int, int] | None = None,
    assigned: bool = True,
    rebalancing: bool = False,
) -> Any:
    gaps: defaultdict[Any, IntervalTree] = defaultdict(IntervalTree)
    if gap is not None:
        gaps[TP].addi(*gap)
    return SimpleNamespace(
        _acked={TP: list(acked)},
        _acked_index={TP: set(acked)},
        _committed_offset={TP: committed},
        _gap=gaps,
        assignment=lambda: {TP} if assigned else set(),
        app=SimpleNamespace(rebalancing=rebalancing),
    )


def test_one_missing_message_holds_the_commit_back() -> None:
    faust_alone = getattr(Consumer._new_offset, "__wrapped__", Consumer._new_offset)
    assert faust_alone(consumer([8, 9, 10], 7), TP) == 11  # skips offset 7
    guard_commits()
    assert Consumer._new_offset(consumer([8, 9, 10], 7), TP) is None
    assert Consumer._new_offset(consumer([9, 10], 7), TP) is None


def test_contiguous_acknowledgements_and_known_gaps_commit() -> None:
    guard_commits()
    guard_commits()  # idempotent
    assert Consumer._new_offset(consumer([7, 8, 9], 7), TP) == 10
    assert Consumer._new_offset(consumer([9, 10], 7, gap=(7, 9)), TP) == 11
    assert Consumer._new_offset(consumer([0, 1], -1), TP) == 2  # never committed before


def test_a_revoked_partition_is_not_committed_past_a_message_left_unacknowledged() -> None:
    faust_alone = getattr(Consumer._new_offset, "__wrapped__", Consumer._new_offset)
    # Faust forgot the committed offset at revocation; 12 is still being processed
    assert faust_alone(consumer([13, 14], None, rebalancing=True), TP) == 15
    guard_commits()
    assert Consumer._new_offset(consumer([13, 14], None, rebalancing=True), TP) is None
    assert Consumer._new_offset(consumer([0, 1], None), TP) == 2  # never committed before


def test_offsets_acknowledged_twice_or_already_committed_do_not_slow_the_commit() -> None:
    faust_alone = getattr(Consumer._new_offset, "__wrapped__", Consumer._new_offset)
    assert faust_alone(consumer([7, 8, 8, 9, 9, 10], 7), TP) == 9  # up to the first repeat
    guard_commits()
    assert Consumer._new_offset(consumer([7, 8, 8, 9, 9, 10], 7), TP) == 11
    assert Consumer._new_offset(consumer([5, 6, 7, 8], 7), TP) == 9


def test_stalled_partitions_are_those_acknowledged_beyond_the_commit() -> None:
    stalled = consumer([9, 10], 7)
    assert stalled_partitions(stalled) == [(TP, 7)]
    assert stalled_partitions(consumer([7, 8], 7)) == []
    assert stalled_partitions(consumer([0, 1], -1)) == []


def test_a_partition_no_longer_assigned_is_not_stalled() -> None:
    """Faust keeps the bookkeeping of revoked partitions; seeking one crashes the app."""
    assert stalled_partitions(consumer([9, 10], 7, assigned=False)) == []


def test_an_event_held_for_its_turn_is_not_taken_for_a_lost_message() -> None:
    settings = Settings(topic_prefix="t-")
    detector = create_detector(settings)
    order: EventOrder[Any] = EventOrder(["transfers/0"], 100)
    held = SimpleNamespace(
        delivery=SimpleNamespace(event=SimpleNamespace(message=SimpleNamespace(offset=41)))
    )
    order.add(held, "transfers/0", 7, 1_000, 1_000)
    detector.partitions.orders[("account", 3)] = order
    topic = subject_events_topic(settings, "account")
    assert detector.partitions.holds(tuples.TP(topic, 3), 41)
    assert not detector.partitions.holds(tuples.TP(topic, 3), 40)
    assert not detector.partitions.holds(tuples.TP(topic, 2), 41)
    assert not detector.partitions.holds(tuples.TP(settings.topic("transfers"), 3), 41)


def test_a_withheld_partition_is_not_committed_past_its_limit() -> None:
    guard_commits()
    held = consumer([7, 8, 9, 10, 11], 7)
    withhold(held, TP, 10)
    withhold(held, TP, 12)  # a later limit does not lift an earlier one
    assert Consumer._new_offset(held, TP) == 10
    behind = consumer([7, 8, 9], 7)
    withhold(behind, TP, 7)
    assert Consumer._new_offset(behind, TP) is None
    # a shutdown's last commit; Faust holds None for a partition committed at 0
    stopping = consumer([0, 1, 2, 3], None)
    withhold(stopping, TP, 2)
    assert Consumer._new_offset(stopping, TP) == 2


def test_a_revoked_partition_s_limit_and_acknowledgements_are_forgotten() -> None:
    guard_commits()
    revoked = consumer([13, 14], None, rebalancing=True)
    withhold(revoked, TP, 13)
    forget_revoked(revoked, [TP])
    # given back, committed at 12: 13 and 14 are read again, and only then acknowledged
    revoked._committed_offset[TP] = 12
    revoked.app.rebalancing = False
    assert TP not in revoked._acked and TP not in revoked._acked_index
    revoked._acked[TP], revoked._acked_index[TP] = [12, 13], {12, 13}
    assert Consumer._new_offset(revoked, TP) == 14
