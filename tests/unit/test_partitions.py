"""Held subject events are given up only while the partitions held are being given up: from
a rebalance's start until its revoked partitions are forgotten, and while the worker stops.
Records of the new assignment that Faust hands over later in the same rebalance are applied
as usual. Given up, they are acknowledged, and their partition is committed no further than
the first of them."""

from types import SimpleNamespace

from faust.transport.consumer import Consumer
from faust.types import TP

from duanka.detector.app import create_detector
from duanka.detector.bundle import Forward
from duanka.detector.core.ordering import EventOrder
from duanka.detector.partitions import Delivery, Pending, SubjectPartitions, hold
from duanka.detector.patches.commit_head import guard_commits
from duanka.detector.subjects import give_up
from duanka.settings import Settings
from duanka.topics import subject_events_topic
from tests.factories import T0, transfer


def test_partitions_are_given_up_from_a_rebalance_s_start_until_they_are_forgotten() -> None:
    app = SimpleNamespace(should_stop=False, rebalancing=False, rebalancing_count=0)
    partitions = SubjectPartitions(app, Settings(), lambda why: None)
    assert not partitions.giving_up()
    app.rebalancing, app.rebalancing_count = True, 1  # Faust's `on_rebalance_start`
    assert partitions.giving_up()
    partitions.forgotten()  # the rebalance's revoked partitions are forgotten
    assert not partitions.giving_up()  # still rebalancing: the new assignment recovers
    app.rebalancing_count = 2  # another rebalance begins before that one has ended
    assert partitions.giving_up()
    partitions.forgotten()
    app.rebalancing = False
    assert not partitions.giving_up()


def test_partitions_are_given_up_while_the_worker_stops() -> None:
    app = SimpleNamespace(should_stop=True, rebalancing=False, rebalancing_count=0)
    partitions = SubjectPartitions(app, Settings(), lambda why: None)
    partitions.forgotten()
    assert partitions.giving_up()


def test_events_given_up_are_acknowledged_and_their_partition_not_committed_past_them() -> None:
    settings = Settings(topic_prefix="t-")
    detector = create_detector(settings)
    consumer = detector.app.consumer
    tp = TP(subject_events_topic(settings, "account"), 3)
    acked: list[int] = []

    def message(offset: int) -> SimpleNamespace:
        inner = SimpleNamespace(offset=offset)
        return SimpleNamespace(message=inner, ack=lambda: acked.append(offset))

    order: EventOrder[Pending] = EventOrder(["transfers/0"], 100)
    for offset in (41, 40, 44):
        event = transfer("a", "b", 100, T0, n=offset)
        forward = Forward(b"b", "in", "transfers", 0, offset, 1_000 + offset, event)
        hold(order, Pending(Delivery(message(offset), 1), forward), forward)
    give_up(detector, "account", 3, order.drain())
    assert sorted(acked) == [40, 41, 44]
    guard_commits()
    consumer._committed_offset[tp] = 38
    consumer._acked[tp] = [38, 39, 40, 41, 42, 43, 44]
    consumer._acked_index[tp] = set(consumer._acked[tp])
    assert Consumer._new_offset(consumer, tp) == 40
