"""Progress reports and markers: how far this worker has read each input partition it holds.

Every subject-topic partition puts the events it receives in one order (`core.ordering`),
and must know how far every input partition feeding it has come, also those read by other
workers and those that brought it nothing lately. So each worker writes reports of the
input partitions it holds to every partition of every subject topic: per partition, its
newest forwarded event time, the write time it has been read through, and the write time
of its last record. A report follows the events forwarded before it into each partition
(one producer keeps a partition's order), so what it says of them is true when it is read,
whoever reads it and whenever. The `dispositions` partitions are the exception: their
reports go to the case linker, which relays them to the account and identity partitions
(`core.disposition_gate`).

A quiet input partition's write time would stand still, and hold back every event written
after it. So a worker writes a *marker* into each input partition it holds that is read to
its end, while some record written anywhere is not yet `MARKER_REACH_MS` behind it: the
broker stamps the marker as it appends it (`LogAppendTime`), and once the marker is read
back, everything written to the partition before that time has been read. Markers stop
when every partition it holds has been read past the latest record known; a worker that
holds no subject partition, and so hears of no other worker's records, writes one to each
every `IDLE_MARKER_S`.

Reports are written every `REPORT_INTERVAL_S` while what they say changes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
from faust.types import TP

from duanka.detector.core.disposition_gate import Position
from duanka.detector.core.intake import InputTopic
from duanka.detector.core.ordering import OriginProgress
from duanka.detector.core.read_frontier import ReadFrontier
from duanka.detector.core.routing import SUBJECT_KINDS
from duanka.detector.core.watermark import (
    FEEDING_TOPICS,
    LINKED_TOPICS,
    UNTIMED_TOPICS,
    origin_of,
)
from duanka.detector.headers import MARKER, PROGRESS, STREAM_HEADER
from duanka.detector.merge import Upcoming
from duanka.detector.patches.consumer_state import read_from
from duanka.schemas.alerts import SubjectKind

if TYPE_CHECKING:
    from duanka.detector.context import Detector

log = logging.getLogger(__name__)
REPORT_INTERVAL_S = 0.1
"""How often progress is reported and markers are written when due: the latency paid for
applying events in order."""
REPORTED_TOPICS: frozenset[InputTopic] = frozenset(
    t for kinds in (FEEDING_TOPICS, UNTIMED_TOPICS) for ts in kinds.values() for t in ts
)
"""Input topics whose progress goes to every subject partition."""
LINKER_TOPICS: frozenset[InputTopic] = frozenset(t for ts in LINKED_TOPICS.values() for t in ts)
"""Input topics whose progress goes to the case linker, which relays it."""
MARKED_TOPICS = REPORTED_TOPICS | LINKER_TOPICS
"""Input topics whose progress is reported, and which get markers when quiet."""
MARKER_KEY = b"duanka-marker"
"""The key of every marker (the watchlist is compacted: its records need a key). Its value
is empty, not null: on the watchlist a null value would read as a tombstone."""
MARKER_AGAIN_S = 2.0
"""How long a marker may take to be read back before another is written to its partition."""
IDLE_MARKER_S = 5.0
"""How often a marker goes to each quiet partition when no record is known to wait."""


@dataclass(slots=True)
class InputProgress:
    """Per input partition this worker reads, what it has read and forwarded."""

    newest: dict[TP, int] = field(default_factory=dict)
    """The newest event time forwarded (epoch ms)."""
    written: dict[TP, int] = field(default_factory=dict)
    """The write time read through: the timestamp of the last message handled (epoch ms)."""
    recorded: dict[TP, int] = field(default_factory=dict)
    """The timestamp of the last message handled that is not a marker (epoch ms)."""
    done: dict[TP, int] = field(default_factory=dict)
    """The offset after the last message handled (forwarded, rejected or a marker)."""
    marked: dict[TP, float] = field(default_factory=dict)
    """Per partition, when a marker was last written to it (monotonic s)."""
    unread: set[TP] = field(default_factory=set)
    """The partitions with a marker on its way, not read back yet."""
    busy_at: dict[TP, float] = field(default_factory=dict)
    """When a message that is not a marker was last handled (monotonic s)."""
    clock: Callable[[], float] = time.monotonic
    start: Callable[[TP], int | None] = lambda tp: None
    """Where reading a partition began: its committed offset (None or -1: not known)."""
    hole: Callable[[TP, int], bool] = lambda tp, offset: False
    """Whether the topic has no message at an offset (compaction, a transaction marker), as
    the consumer has learnt."""
    frontiers: dict[TP, ReadFrontier] = field(default_factory=dict)
    """Per partition, how far it has been read with nothing missing."""
    upcoming: Callable[[TP], Upcoming | None] = lambda tp: None
    """The next record of a partition not handed over yet, as the record merge holds it
    (`merge.upcoming`)."""

    def read(self, tp: TP, offset: int) -> bool:
        """Note the message at `offset` of `tp` read; whether it is to be handled: every
        message before it has been. One after a message missing is not (`core.read_frontier`):
        forwarded, its events would come before the missing one's, and its origin would seem
        to have passed them; it comes again when the partition is read again from its
        commit."""
        frontier = self.frontiers.get(tp)
        if frontier is None:
            frontier = self.frontiers[tp] = ReadFrontier(self.start(tp), partial(self.hole, tp))
        return frontier.read(offset)

    def handled(
        self, tp: TP, offset: int, written: int, *, at: int | None = None, marker: bool = False
    ) -> None:
        """The message at `offset` of `tp`, written at `written`, is done with; `at`: the
        event time it was forwarded to every subject it concerns at (None: it forwarded
        none)."""
        self.done[tp] = max(offset + 1, self.done.get(tp, 0))
        if at is not None:
            _advance(self.newest, tp, at)
        _advance(self.written, tp, written)
        if marker:
            self.unread.discard(tp)
        else:
            _advance(self.recorded, tp, written)
            self.busy_at[tp] = self.clock()

    def written_through(self, tp: TP) -> int | None:
        """The write time `tp` is read through: the timestamp of the last message handled;
        or, when every message the merge handed over has been handled and it holds the
        next one, just short of that one's timestamp (`merge.Upcoming`). A partition whose
        messages are few (`dispositions`) is read in the merge's order, and its next one
        may be far ahead: what it has not brought yet is known not to be older."""
        written = self.written.get(tp)
        upcoming = self.upcoming(tp)
        if upcoming is None:
            return written
        done = self.done.get(tp)
        if upcoming.handed is not None and (done is None or done <= upcoming.handed):
            return written  # handed over, not handled yet
        return max(written if written is not None else -1, upcoming.timestamp - 1)

    def forget(self, tps: Iterable[TP]) -> None:
        """Partitions handed to another worker start afresh if they come back."""
        for tp in tps:
            self.newest.pop(tp, None)
            self.written.pop(tp, None)
            self.recorded.pop(tp, None)
            self.done.pop(tp, None)
            self.frontiers.pop(tp, None)
            self.marked.pop(tp, None)
            self.unread.discard(tp)
            self.busy_at.pop(tp, None)

    def report(
        self, consumer: Any, topic_kinds: dict[str, InputTopic], topics: frozenset[InputTopic]
    ) -> dict[str, OriginProgress]:
        """The progress of every partition of `topics` assigned to `consumer`, by origin."""
        return {
            origin_of(topic_kinds[tp.topic], tp.partition): OriginProgress(
                self.newest.get(tp), self.written_through(tp)
            )
            for tp in _reported(consumer, topic_kinds)
            if topic_kinds[tp.topic] in topics
        }

    def to_mark(
        self, consumer: Any, topic_kinds: dict[str, InputTopic], reach: int | None, now: float
    ) -> list[TP]:
        """The partitions a marker should go to now: read to their end, quiet for a report
        interval (a busy one moves on by itself), with no marker on its way, and read
        through less than `reach` (epoch ms; None: every `IDLE_MARKER_S`)."""
        due = []
        for tp in _reported(consumer, topic_kinds):
            if now - self.busy_at.get(tp, -math.inf) < REPORT_INTERVAL_S:
                continue
            since = now - self.marked.get(tp, -math.inf)
            if reach is None:
                if since < IDLE_MARKER_S:
                    continue
            elif self.written.get(tp, -1) >= reach or (
                tp in self.unread and since < MARKER_AGAIN_S
            ):
                continue
            try:
                highwater = consumer.highwater(tp)
            except AssertionError:  # no longer assigned: a rebalance began
                continue
            position = self.done.get(tp, read_from(consumer, tp))
            if highwater is not None and position >= highwater:
                due.append(tp)
        return due

    def mark(self, tp: TP, now: float) -> None:
        """A marker was written to `tp` at `now` (monotonic s)."""
        self.marked[tp] = now
        self.unread.add(tp)


def _reported(consumer: Any, topic_kinds: dict[str, InputTopic]) -> list[TP]:
    """The assigned partitions of the input topics whose progress is reported."""
    return [tp for tp in consumer.assignment() if topic_kinds.get(tp.topic) in MARKED_TOPICS]


def _advance(latest: dict[TP, int], tp: TP, at: int) -> None:
    if at > latest.get(tp, at - 1):
        latest[tp] = at


class Report(NamedTuple):
    """A worker's progress report: per input partition it reads, by origin, how far it has
    come; and the latest write time of a record (not a marker) it knows of, read by itself
    or held or reported anywhere it holds a subject partition (None: none), so that every
    worker learns how far markers must reach. As the case linker relays it
    (`core.disposition_gate`), per `dispositions` partition the disposition it awaits an
    answer about, and the last disposition read (everything before it has been offered)."""

    origins: dict[str, OriginProgress]
    recorded: int | None
    awaiting: Mapping[str, Position] = MappingProxyType({})
    through: Mapping[str, Position] = MappingProxyType({})


@dataclass(slots=True)
class ReportSchedule:
    """Which reports are worth writing: one that tells something new."""

    last: Report | None = None

    def due(self, report: Report) -> bool:
        """Whether `report` should be written now; if so, it counts as written."""
        if not report.origins or report == self.last:
            return False
        self.last = report
        return True


def encode_report(report: Report) -> bytes:
    origins = {origin: list(progress) for origin, progress in report.origins.items()}
    value: dict[str, Any] = {"origins": origins, "recorded": report.recorded}
    if report.awaiting:
        value["awaiting"] = {origin: list(at) for origin, at in report.awaiting.items()}
    if report.through:
        value["through"] = {origin: list(at) for origin, at in report.through.items()}
    return orjson.dumps(value)


@functools.lru_cache(maxsize=64)
def decode_report(value: bytes) -> Report:
    """A report as `encode_report` wrote it; raises ValueError if it is not one. A worker
    sends one report to every partition of a kind, so one holding several of them decodes
    it once: the report returned is shared, to be read only."""
    report = orjson.loads(value)
    if not isinstance(report, dict) or not {"origins", "recorded"} <= set(report) <= {
        "origins",
        "recorded",
        "awaiting",
        "through",
    }:
        raise ValueError("a progress report is an object of origins and recorded")
    origins, recorded = report["origins"], report["recorded"]
    if not isinstance(origins, dict) or not _is_time(recorded):
        raise ValueError("not a progress report: its origins or recorded")
    return Report(
        {origin: _progress(progress) for origin, progress in origins.items()},
        recorded,
        _positions(report.get("awaiting", {})),
        _positions(report.get("through", {})),
    )


def encode_frontier(kind: SubjectKind, partition: int, reached: dict[str, Position]) -> bytes:
    """A subject partition's frontier (`core.disposition_gate`): the positions awaited it
    has applied everything before."""
    origins = {origin: list(position) for origin, position in reached.items()}
    return orjson.dumps({"kind": kind, "partition": partition, "origins": origins})


def decode_frontier(value: bytes) -> tuple[tuple[SubjectKind, int], dict[str, Position]]:
    """A frontier as `encode_frontier` wrote it: its lane and positions; raises ValueError
    if it is not one."""
    frontier = orjson.loads(value)
    if not isinstance(frontier, dict) or set(frontier) != {"kind", "partition", "origins"}:
        raise ValueError("a frontier is an object of kind, partition and origins")
    kind, partition = frontier["kind"], frontier["partition"]
    if kind not in LINKED_TOPICS or not isinstance(partition, int):
        raise ValueError("not a frontier: its kind or partition")
    lane: tuple[SubjectKind, int] = (kind, partition)
    return lane, _positions(frontier["origins"])


def _positions(value: Any) -> dict[str, Position]:
    if not isinstance(value, dict):
        raise ValueError(f"not positions by origin: {value!r:.100}")
    positions = {}
    for origin, fields in value.items():
        if (
            not isinstance(fields, list)
            or len(fields) != 3
            or not all(isinstance(f, int) and not isinstance(f, bool) for f in fields)
        ):
            raise ValueError(f"not a disposition's position: {fields!r:.100}")
        positions[origin] = Position(*fields)
    return positions


def _progress(fields: Any) -> OriginProgress:
    if not isinstance(fields, list) or len(fields) != 2 or not all(map(_is_time, fields)):
        raise ValueError(f"not an origin's progress: {fields!r:.100}")
    return OriginProgress(*fields)


def _is_time(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def latest_record(detector: Detector) -> int | None:
    """The latest write time of a record (not a marker) known here: read by this worker,
    or held or reported in a subject partition it holds."""
    orders = detector.partitions.orders.values()
    known = [o for o in (order.recorded() for order in orders) if o is not None]
    known += detector.input_progress.recorded.values()
    return max(known, default=None)


def reach(detector: Detector, reach_ms: int) -> int | None:
    """The write time every partition this worker holds should be read through: `reach_ms`
    past the latest record known here (-1: none is known, nothing waits; None: no subject
    partition is held, so others' records are not known)."""
    if not detector.partitions.orders:
        return None
    latest = latest_record(detector)
    return -1 if latest is None else latest + reach_ms


class Due(NamedTuple):
    """What the progress timer sends now: the partitions a marker should go to, the report
    for every subject partition, and the report for the case linker (None: nothing new)."""

    markers: list[TP]
    report: Report | None
    linker_report: Report | None


@dataclass(slots=True)
class Schedules:
    """The reports worth writing, to the subject partitions and to the case linker."""

    subjects: ReportSchedule = field(default_factory=ReportSchedule)
    linker: ReportSchedule = field(default_factory=ReportSchedule)


def due(
    detector: Detector,
    consumer: Any,
    topic_kinds: dict[str, InputTopic],
    schedules: Schedules,
    reach_ms: int,
    now: float,
) -> Due:
    """What the progress timer sends at `now` (monotonic s): the partitions a marker should
    go to (`InputProgress.to_mark`; the caller marks each once written), and the reports,
    unless they say nothing new (`ReportSchedule`)."""
    progress = detector.input_progress
    markers = progress.to_mark(consumer, topic_kinds, reach(detector, reach_ms), now)
    report = Report(
        progress.report(consumer, topic_kinds, REPORTED_TOPICS), latest_record(detector)
    )
    linker_report = Report(progress.report(consumer, topic_kinds, LINKER_TOPICS), None)
    return Due(
        markers,
        report if schedules.subjects.due(report) else None,
        linker_report if schedules.linker.due(linker_report) else None,
    )


def _marker_landed(tp: TP, sent: asyncio.Future[Any]) -> None:
    """A marker that could not be written holds back every event waiting on its partition:
    say so. It is written again after `MARKER_AGAIN_S`."""
    error = None if sent.cancelled() else sent.exception()
    if error is not None:
        log.error(
            "could not write a marker to %s[%d] (%r): events waiting on it wait; the "
            "worker needs Write on the input topics",
            tp.topic,
            tp.partition,
            error,
        )


def reporter(detector: Detector, reach_ms: int) -> Callable[[], Awaitable[None]]:
    """The timer body that writes the markers due (`InputProgress.to_mark`), then reports
    this worker's input progress, when it changed: of the `dispositions` partitions to the
    case linker, of the others to every subject-topic partition."""
    app, settings = detector.app, detector.settings
    topic_kinds: dict[str, InputTopic] = {settings.topic(t): t for t in MARKED_TOPICS}
    schedules = Schedules()
    marker_headers = {STREAM_HEADER: MARKER.encode()}

    async def send_reports() -> None:
        if app.rebalancing:
            return
        now = time.monotonic()
        markers, report, linker_report = due(
            detector, app.consumer, topic_kinds, schedules, reach_ms, now
        )
        for tp in markers:
            sent = await app.producer.send(
                tp.topic, MARKER_KEY, b"", tp.partition, None, marker_headers
            )
            asyncio.ensure_future(sent).add_done_callback(partial(_marker_landed, tp))
            detector.input_progress.mark(tp, now)
        if linker_report is not None:
            await detector.case_alerts.send(
                value=encode_report(linker_report), headers=REPORT_HEADERS
            )
        if report is not None:
            for kind in SUBJECT_KINDS:
                await send_report(detector, kind, range(settings.partitions), report)

    return send_reports


REPORT_HEADERS = {STREAM_HEADER: PROGRESS.encode()}


async def send_report(
    detector: Detector, kind: SubjectKind, partitions: Iterable[int], report: Report
) -> None:
    """Send a progress report to partitions of `kind`'s subject topic, encoded once."""
    value = encode_report(report)
    topic = detector.subject_events[kind]
    for partition in partitions:
        await topic.send(key=None, value=value, partition=partition, headers=REPORT_HEADERS)
