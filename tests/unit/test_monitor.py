"""Faust's sensor metrics without its work per message: the lag's two gauges still move,
at each commit, and the metrics no longer kept are not exposed."""

from types import SimpleNamespace

from faust.types import TP
from prometheus_client import generate_latest

from duanka.detector.app import create_detector
from duanka.detector.monitor import Monitor
from duanka.settings import Settings

PARTITION = TP("transfers", 3)


def test_end_offsets_seen_per_record_are_set_at_the_next_commit() -> None:
    detector = create_detector(Settings(store="memory://"))
    monitor = detector.app.monitor
    assert isinstance(monitor, Monitor)
    monitor.track_tp_end_offset(PARTITION, 120)
    monitor.track_tp_end_offset(PARTITION, 140)
    before = generate_latest(detector.metrics.registry)
    assert b'faust_topic_partition_end_offset{partition="3",topic="transfers"}' not in before
    monitor.on_tp_commit({PARTITION: 100})
    after = generate_latest(detector.metrics.registry)
    assert b'faust_topic_partition_end_offset{partition="3",topic="transfers"} 140.0' in after
    assert b'faust_topic_partition_offset_commited{partition="3",topic="transfers"} 100.0' in after


def test_messages_and_events_are_not_counted_nor_exposed() -> None:
    detector = create_detector(Settings(store="memory://"))
    monitor = detector.app.monitor
    assert isinstance(monitor, Monitor)
    message = SimpleNamespace(time_in=None)
    monitor.on_message_in(PARTITION, 7, message)  # type: ignore[arg-type]
    monitor.on_stream_event_in(PARTITION, 7, SimpleNamespace(), SimpleNamespace())
    monitor.on_message_out(PARTITION, 7, message)  # type: ignore[arg-type]
    assert monitor.messages_received_total == 0 and monitor.events_total == 0
    body = generate_latest(detector.metrics.registry)
    assert b"faust_messages_received" not in body and b"faust_events" not in body
    assert b"faust_consumer_commit_latency" in body and b"faust_total_rebalances" in body
