"""Held subject events go back to the end of their partitions only while the partitions
held are being given up: from a rebalance's start until its revoked partitions are
forgotten, and while the worker stops. Records of the new assignment that Faust hands over
later in the same rebalance are applied as usual."""

from types import SimpleNamespace

from services.detector.partitions import SubjectPartitions
from services.settings import Settings


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
