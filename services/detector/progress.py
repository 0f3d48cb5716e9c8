"""Progress reports: how far this worker has forwarded each input partition it reads.

Every subject-topic partition puts the events it receives back in event-time order
(`core.ordering`), and must know how far every input partition feeding it has come, also
those read by other workers and those that brought it nothing lately. So each worker writes
reports of the input partitions it holds to every partition of every subject topic: per
partition, its newest forwarded event time, and, if it is caught up (everything up to its
high watermark forwarded), when that high watermark was fetched. A report follows the
events forwarded before it into each partition (one producer keeps a partition's order), so
what it says of them is true when it is read.

A report is written every `REPORT_INTERVAL_S` while this worker forwards input, whenever a
partition's newest event time or caught-up state changes, and otherwise every
`IDLE_REPORT_S` while a fetch brought a newer high watermark: an event of another worker
waits for an idle worker's next report, so at most about that long (`ReportSchedule`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from faust.types import TP

from services.detector.core.intake import InputTopic
from services.detector.core.ordering import OriginProgress
from services.detector.core.routing import SUBJECT_KINDS
from services.detector.core.watermark import FEEDING_TOPICS, UNTIMED_TOPICS, origin_of
from services.detector.headers import GENERATION_HEADER, PROGRESS, STREAM_HEADER
from services.detector.patches.consumer_state import committed, fetched_at

if TYPE_CHECKING:
    from services.detector.context import Detector

REPORT_INTERVAL_S = 0.1
"""How often progress is reported: the latency paid for applying events in order."""
REPORTED_TOPICS: frozenset[InputTopic] = frozenset(
    t for kinds in (FEEDING_TOPICS, UNTIMED_TOPICS) for ts in kinds.values() for t in ts
)
"""Input topics whose records subject partitions put in order."""
IDLE_REPORT_S = 1.0
"""How often a worker that forwarded nothing for as long reports fresher fetches: how long
an event of another worker may wait on its input partitions."""


@dataclass(slots=True)
class InputProgress:
    """Per input partition this worker reads, what it has forwarded."""

    newest: dict[TP, int] = field(default_factory=dict)
    """The newest event time forwarded (epoch ms)."""
    written: dict[TP, int] = field(default_factory=dict)
    """When the newest record forwarded was written (epoch ms)."""
    done: dict[TP, int] = field(default_factory=dict)
    """The offset after the last message handled (forwarded or dead-lettered)."""
    last_forwarded: float = -math.inf
    """When an event was last forwarded (monotonic s)."""

    def forwarded(self, tp: TP, at: int | None, written: int) -> None:
        """A record of `tp`, an event at `at` (None: a watchlist record) written at
        `written`, was forwarded to every subject it concerns."""
        _advance(self.newest, tp, at)
        _advance(self.written, tp, written)
        self.last_forwarded = time.monotonic()

    def busy(self, now: float) -> bool:
        """Whether an event was forwarded in the last `IDLE_REPORT_S`."""
        return now - self.last_forwarded < IDLE_REPORT_S

    def handled(self, tp: TP, offset: int) -> None:
        """The message at `offset` of `tp` is done with."""
        self.done[tp] = offset + 1

    def forget(self, tps: set[TP]) -> None:
        """Partitions handed to another worker start afresh if they come back."""
        for tp in tps:
            self.newest.pop(tp, None)
            self.written.pop(tp, None)
            self.done.pop(tp, None)

    def report(
        self, consumer: Any, topic_kinds: dict[str, InputTopic]
    ) -> dict[str, OriginProgress]:
        """The progress of every input partition assigned to `consumer`, by origin."""
        report = {}
        for tp in consumer.assignment():
            topic = topic_kinds.get(tp.topic)
            if topic not in REPORTED_TOPICS:
                continue
            try:
                fetched = fetched_at(consumer, tp)  # first: a fetch may land in between
                highwater = consumer.highwater(tp)
            except AssertionError:  # no longer assigned: a rebalance began
                continue
            position = self.done.get(tp, max(committed(consumer, tp) or 0, 0))
            caught_up = highwater is not None and position >= highwater
            report[origin_of(topic, tp.partition)] = OriginProgress(
                self.newest.get(tp), fetched if caught_up else None, self.written.get(tp)
            )
        return report


def _advance(newest: dict[TP, int], tp: TP, at: int | None) -> None:
    if at is not None and at > newest.get(tp, at - 1):
        newest[tp] = at


@dataclass(slots=True)
class ReportSchedule:
    """Which reports are worth writing: one that tells something new of a partition's
    newest event time or caught-up state, or of the consumer-group generation, at once; one
    that only brings fresher fetches, while the worker is busy, or `IDLE_REPORT_S` after
    the last. So an idle worker writes a report about every second, and a busy one every
    `REPORT_INTERVAL_S`."""

    last: dict[str, OriginProgress] = field(default_factory=dict)
    generation: int = -1
    written_at: float = -math.inf
    """When the last report was written (monotonic s)."""

    def due(
        self, report: dict[str, OriginProgress], generation: int, now: float, busy: bool
    ) -> bool:
        """Whether `report` should be written now; if so, it counts as written."""
        if not report or (report == self.last and generation == self.generation):
            return False
        news = generation != self.generation or _states(report) != _states(self.last)
        if not (news or busy or now - self.written_at >= IDLE_REPORT_S):
            return False
        self.last, self.generation, self.written_at = report, generation, now
        return True


def _states(report: dict[str, OriginProgress]) -> dict[str, tuple[int | None, bool]]:
    """Per origin, its newest event time and whether it is caught up."""
    return {o: (p.newest, p.caught_up_at is not None) for o, p in report.items()}


def encode_report(report: dict[str, OriginProgress]) -> bytes:
    return orjson.dumps({origin: list(progress) for origin, progress in report.items()})


def decode_report(value: bytes) -> dict[str, OriginProgress]:
    """A report as `encode_report` wrote it. One of an earlier form, still on a subject
    topic during an upgrade, counts for what it says: (newest, caught up at) says nothing of
    write times; (newest, caught up, quiet), with a boolean second, only of newest event
    times."""
    return {origin: _progress(progress) for origin, progress in orjson.loads(value).items()}


def _progress(fields: list[Any]) -> OriginProgress:
    if len(fields) == 3 and isinstance(fields[1], bool):
        return OriginProgress(fields[0], None)
    return OriginProgress(*fields)


def reporter(detector: Detector) -> Callable[[], Awaitable[None]]:
    """The timer body that reports this worker's input progress to every subject-topic
    partition, when due (`ReportSchedule`)."""
    app, settings = detector.app, detector.settings
    topic_kinds: dict[str, InputTopic] = {settings.topic(t): t for t in REPORTED_TOPICS}
    schedule = ReportSchedule()

    async def send_report() -> None:
        if app.rebalancing:
            return
        report = detector.input_progress.report(app.consumer, topic_kinds)
        generation = app.consumer_generation_id
        now = time.monotonic()
        if not schedule.due(report, generation, now, detector.input_progress.busy(now)):
            return
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

    return send_report
