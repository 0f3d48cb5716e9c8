"""Progress reports: how far this worker has forwarded each input partition it reads.

Every subject-topic partition puts the events it receives back in event-time order
(`core.ordering`), and must know how far every input partition feeding it has come, also
those read by other workers and those that brought it nothing lately. So every
`REPORT_INTERVAL_S` each worker writes a report of the input partitions it holds to every
partition of every subject topic: per partition, its newest forwarded event time, whether
it is caught up (everything up to its high watermark forwarded), and whether it is quiet
(caught up, and nothing forwarded for `QUIET_AFTER_S`). A report follows the events
forwarded before it into each partition (one producer keeps a partition's order), so what
it says of them is true when it is read. Reports are written while a partition is caught
up but not quiet (a caught-up report counts for the events written before it), and
otherwise only when the report or the consumer-group generation changed: an idle worker
writes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import orjson
from faust.types import TP

from services.detector.core.intake import InputTopic
from services.detector.core.ordering import OriginProgress
from services.detector.core.routing import SUBJECT_KINDS
from services.detector.core.watermark import FEEDING_TOPICS, origin_of
from services.detector.headers import GENERATION_HEADER, PROGRESS, STREAM_HEADER

if TYPE_CHECKING:
    from services.detector.app import Detector

REPORT_INTERVAL_S = 0.1
"""How often progress is reported: the latency paid for applying events in order."""
QUIET_AFTER_S = 1.0
"""How long a caught-up input partition must have forwarded nothing to be reported quiet."""
REPORTED_TOPICS: frozenset[InputTopic] = frozenset(t for ts in FEEDING_TOPICS.values() for t in ts)
"""Input topics whose events carry an event time."""


@dataclass(slots=True)
class InputProgress:
    """Per input partition this worker reads, what it has forwarded."""

    newest: dict[TP, int] = field(default_factory=dict)
    """The newest event time forwarded (epoch ms)."""
    done: dict[TP, int] = field(default_factory=dict)
    """The offset after the last message handled (forwarded or dead-lettered)."""
    last_forwarded: dict[TP, float] = field(default_factory=dict)
    """When an event was last forwarded (monotonic s)."""

    def forwarded(self, tp: TP, at: int) -> None:
        """An event at `at` of `tp` was forwarded to every subject it concerns."""
        if at > self.newest.get(tp, at - 1):
            self.newest[tp] = at
        self.last_forwarded[tp] = time.monotonic()

    def handled(self, tp: TP, offset: int) -> None:
        """The message at `offset` of `tp` is done with."""
        self.done[tp] = offset + 1

    def forget(self, tps: set[TP]) -> None:
        """Partitions handed to another worker start afresh if they come back."""
        for tp in tps:
            self.newest.pop(tp, None)
            self.done.pop(tp, None)
            self.last_forwarded.pop(tp, None)

    def report(
        self, consumer: Any, topic_kinds: dict[str, InputTopic]
    ) -> dict[str, OriginProgress]:
        """The progress of every input partition assigned to `consumer`, by origin."""
        report = {}
        now = time.monotonic()
        for tp in consumer.assignment():
            topic = topic_kinds.get(tp.topic)
            if topic not in REPORTED_TOPICS:
                continue
            highwater = consumer.highwater(tp)
            position = self.done.get(tp, max(consumer._committed_offset.get(tp) or 0, 0))
            caught_up = highwater is not None and position >= highwater
            quiet = caught_up and now - self.last_forwarded.get(tp, -QUIET_AFTER_S) >= QUIET_AFTER_S
            report[origin_of(topic, tp.partition)] = OriginProgress(
                self.newest.get(tp), caught_up, quiet
            )
        return report


def encode_report(report: dict[str, OriginProgress]) -> bytes:
    return orjson.dumps({origin: list(progress) for origin, progress in report.items()})


def decode_report(value: bytes) -> dict[str, OriginProgress]:
    return {origin: OriginProgress(*progress) for origin, progress in orjson.loads(value).items()}


def register(detector: Detector) -> None:
    """Report this worker's input progress to every subject-topic partition."""
    app, settings = detector.app, detector.settings
    topic_kinds: dict[str, InputTopic] = {settings.topic(t): t for t in REPORTED_TOPICS}
    last: tuple[dict[str, OriginProgress], int] = ({}, -1)

    async def send_report() -> None:
        nonlocal last
        if app.rebalancing:
            return
        report = detector.input_progress.report(app.consumer, topic_kinds)
        generation = app.consumer_generation_id
        settling = any(p.caught_up and not p.quiet for p in report.values())
        if not report or ((report, generation) == last and not settling):
            return
        last = (report, generation)
        value = encode_report(report)
        headers = {
            STREAM_HEADER: PROGRESS.encode(),
            GENERATION_HEADER: str(generation).encode(),
        }
        for kind in SUBJECT_KINDS:
            for partition in range(settings.partitions):
                await detector.subject_events[kind].send(
                    key=None, value=value, partition=partition, headers=headers
                )

    app.timer(REPORT_INTERVAL_S, name="progress-report")(send_report)

    async def forget(app: Any, revoked: Any, **kwargs: Any) -> None:
        detector.input_progress.forget(set(revoked))

    app.on_partitions_revoked.connect(cast(Any, forget))
