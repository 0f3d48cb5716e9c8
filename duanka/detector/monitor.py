"""Faust's sensor metrics on `GET /metrics`, without Faust's work per message.

Faust's Prometheus sensor counts every message read, every event a stream takes and every
message sent, with a labelled metric or two each, and sets a gauge per record fetched: in
a backlog drain that was about a twelfth of the worker's main thread, more than the native
rules cost. The dashboards and alert rules (`deploy/`) read only the partitions' end
offsets and commits, commit latency and rebalances, and duanka counts its input itself
(`duanka_events_consumed_total`). So `Monitor` keeps Faust's sensor for everything that
happens per commit, rebalance or web request, does nothing per message, and sets the end
offsets, which Faust reports per record fetched, once per commit. The metrics it no longer
keeps are not exposed at all, rather than exposed at zero.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

KEPT = (
    "topic_partition_end_offset",
    "topic_partition_offset_commited",
    "consumer_commit_latency",
    "total_rebalances",
    "total_rebalances_recovering",
    "rebalance_done_consumer_latency",
    "rebalance_done_latency",
    "assignment_operations",
    "assign_latency",
    "total_error_messages_sent",
    "table_operations",
    "count_metrics_by_name",
    "http_status_codes",
    "http_latency",
)
"""Faust's metrics exposed: none is updated per message."""


class Monitor(PrometheusMonitor):
    """Faust's Prometheus sensor, its hooks per message and per event left out."""

    def on_message_in(self, tp: TP, offset: int, message: Any) -> None:
        pass

    def on_stream_event_in(self, tp: TP, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(
        self, tp: TP, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        pass

    def on_message_out(self, tp: TP, offset: int, message: Any) -> None:
        pass

    def on_send_initiated(
        self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
    ) -> None:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        pass

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        self.send_errors += 1
        self._metrics.total_error_messages_sent.inc()

    def track_tp_end_offset(self, tp: TP, offset: int) -> None:
        self.tp_end_offsets[tp] = offset

    def on_tp_commit(self, tp_offsets: Any) -> None:
        """Commits, and the end offsets Faust has seen since the last one."""
        super().on_tp_commit(tp_offsets)
        end_offset = self._metrics.topic_partition_end_offset
        for tp, offset in self.tp_end_offsets.items():
            end_offset.labels(topic=tp.topic, partition=tp.partition).set(offset)


def install(app: faust.App, registry: CollectorRegistry, prefix: str) -> None:
    """Make `Monitor` the app's monitor, its metrics (`KEPT`, named `prefix_...`) in
    `registry`, and serve `registry` on `GET /metrics`."""
    every = FaustMetrics.create(CollectorRegistry(), prefix)
    for name in KEPT:
        registry.register(getattr(every, name))
    app.monitor = Monitor(metrics=every)

    @app.page("/metrics")
    async def metrics(self: View, request: Request) -> Response:
        headers = {"Content-Type": CONTENT_TYPE_LATEST}  # a charset aiohttp's argument refuses
        return self.bytes(generate_latest(registry), headers=headers)
