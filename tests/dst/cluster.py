"""A model of duanka's shell around its real code, run on one simulated clock from one seed.

What is real: admission (`core.intake.admit`), forwarding to subjects and their partitions
(`ingest.forwards_of`), bundles and their wire form, progress reports and their wire form,
the input progress and what the progress timer sends (`progress.due`), the order of a
subject partition (`partitions.new_order`, `hold`, `answers`), applying what it lets go
(`subjects.apply_forward`: watermarks and the native engine), and the case linker's steps
(`case_links.CaseLinks`: linking, dispositions, the relay and frontiers).

What is modelled: the broker (partition logs, append times from its clock, as
`LogAppendTime` stamps them), producers (each send lands after a random delay, in order per
producer and partition, and is lost if its worker dies first), and workers: each holds
input partitions (reads them from the committed offset, forwards in bundles, writes
reports and markers on a timer), subject partitions (restores their states from the
changelog, reads them from the committed offset, holds events in their order, applies what
is let go, sends alerts, its own listings and changelog records), and maybe the linker's
partition (its table kept across crashes); commits what is done and delivered, pauses,
crashes, and is rebalanced. An alert counts once it has landed on the alerts log.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import orjson
from faust.types import TP

from duanka._native import Subjects
from duanka.detector.bundle import Forward, decode_bundle, encode_bundles, partition_of
from duanka.detector.case_links import CaseLinks, LinkerWork, Stored, StoredAlert
from duanka.detector.core.clock import to_ms
from duanka.detector.core.disposal import Raised, raised
from duanka.detector.core.disposition_gate import Position
from duanka.detector.core.engine import delivery_key
from duanka.detector.core.intake import InputTopic, admit
from duanka.detector.core.ordering import EventOrder, Key
from duanka.detector.core.policy import Policy
from duanka.detector.core.routing import SUBJECT_KINDS
from duanka.detector.core.subject_memory import expire_held
from duanka.detector.core.watermark import CommittedWatermark, event_time
from duanka.detector.headers import LIFTED_OWN, LIFTED_OWN_HEADER
from duanka.detector.ingest import as_written, forwards_of
from duanka.detector.partitions import MARKER_REACH_MS, answers, hold, new_order
from duanka.detector.progress import (
    MARKER_KEY,
    REPORT_INTERVAL_S,
    InputProgress,
    Schedules,
    decode_frontier,
    decode_report,
    due,
    encode_frontier,
    encode_report,
)
from duanka.detector.state_store import RAISED, raised_key
from duanka.detector.subjects import apply_forward, offered
from duanka.schemas.alerts import Alert, SubjectKind
from duanka.schemas.cases import Case
from duanka.schemas.codec import DecodeError, encode
from duanka.schemas.dispositions import Disposition
from tests.dst.ledger import Entry
from tests.dst.world import History

PARTITIONS = 2
"""Partitions of every topic, input and subject."""
READ_TOPICS: tuple[InputTopic, ...] = (
    "sim-activations",
    "account-opens",
    "transfers",
    "watchlist",
    "dispositions",
)
ALERTS_LOG = ("alerts", 0)
LINKER_LOG = ("duanka-case-alerts", 0)
"""The case linker's one partition: alerts, dispositions, reports and frontiers."""
NOW = datetime(2027, 1, 1, tzinfo=UTC)
"""The wall clock that admission checks event times against."""
REPORT_MS = round(REPORT_INTERVAL_S * 1000)
COMMIT_MS = 500
RECOVERY_MS = 1_000
"""How long after an assignment Faust may drop records it fetched: while it recovers."""
STUCK_MS = 3_000
"""How long a commit held behind a message Faust dropped waits before the partition is read
again from its commit (`commit_gaps`, 15 s in the worker)."""


@dataclass(slots=True)
class Record:
    key: bytes | None
    value: bytes | None
    written: int
    """The broker's clock when it was appended (ms)."""
    kind: str
    """"input", "marker", "bundle" or "report"; on the linker's log "alert",
    "disposition" (a JSON list of where it was read, when written, and its value),
    "report" or "frontier"."""
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(slots=True)
class Send:
    """A record on its way from a producer to a partition."""

    log: tuple[str, int]
    record: Record
    worker: Worker | None
    epoch: int
    seq: int


@dataclass(slots=True)
class Holding:
    """A subject partition as its holder has it."""

    kind: SubjectKind
    partition: int
    position: int
    order: EventOrder[tuple[int, Forward]]
    watermark: CommittedWatermark
    states: Subjects
    """The subjects' states as this holder has them: restored from the changelog."""
    raised: dict[str, Raised]
    """The alerts the partition raised that a disposition can act on, by alert id: kept
    in the changelog with the states (`state_store.raised_key`)."""
    left: dict[int, int] = field(default_factory=dict)
    """Per offset read, how many of its events are not applied yet."""
    delivered_at: list[tuple[int, int]] = field(default_factory=list)
    """(an offset a commit may reach, the last send made before) for commits after
    delivery: the alerts and changelog records of what was applied land first."""
    awaited: dict[str, Position] = field(default_factory=dict)
    """The dispositions the case linker awaits this partition's answer about."""
    missing: int | None = None
    """The first offset Faust dropped, not read again yet: no commit passes it."""

    def committable(self) -> int:
        """The offset a commit may reach: the first with events not applied yet, or
        dropped, or not read again yet after a seek back."""
        reached = (self.position, *(o for o, n in self.left.items() if n))
        return min(reached) if self.missing is None else min(*reached, self.missing)


@dataclass(slots=True)
class Reading:
    """An input partition as its reader has it."""

    tp: TP
    position: int
    delivered_at: list[tuple[int, int]] = field(default_factory=list)
    """(offset after a record, the last send it made) for commits after delivery."""
    missing: int | None = None
    """The first offset Faust dropped, not read again yet: no commit passes it."""


@dataclass(slots=True)
class Linking:
    """The case linker's partition as its holder has it."""

    position: int
    links: CaseLinks
    delivered_at: list[tuple[int, int]] = field(default_factory=list)


class Worker:
    def __init__(self, cluster: Cluster, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self.epoch = 0
        self.alive = True
        self.reset()

    def reset(self) -> None:
        self.progress = InputProgress(
            clock=lambda: self.cluster.now / 1000,
            start=lambda tp: self.cluster.committed[(tp.topic, tp.partition)],
        )
        self.schedules = Schedules()
        self.readings: dict[TP, Reading] = {}
        self.holdings: dict[tuple[SubjectKind, int], Holding] = {}
        self.linking: Linking | None = None
        self.next_report = 0
        self.next_commit = 0
        self.recovering_until = -1

    # what `progress.reach` and `InputProgress` read of a worker and its consumer
    @property
    def partitions(self) -> Any:
        return SimpleNamespace(orders={k: h.order for k, h in self.holdings.items()})

    @property
    def input_progress(self) -> InputProgress:
        return self.progress

    def consumer(self) -> Any:
        logs = self.cluster.logs
        return SimpleNamespace(
            assignment=lambda: sorted(self.readings),
            highwater=lambda tp: len(logs[(tp.topic, tp.partition)]),
            _committed_offset={tp: r.position for tp, r in self.readings.items()},
        )

    def step(self) -> None:
        """One turn of the worker's loop: read input, read subject partitions, the timers."""
        if not self.alive:
            return
        cluster, rng = self.cluster, self.cluster.rng
        now = cluster.now
        if cluster.rebalancing:  # everything held was dropped; nothing is read
            cluster.at(now + rng.randint(1, 30), self.step, self)
            return
        work: list[Callable[[], None]] = [self.ingest, self.consume, self.link]
        rng.shuffle(work)
        for part in work:
            part()
        if now >= self.next_report:
            self.report()
            self.next_report = now + REPORT_MS + rng.randint(0, 30)
        if now >= self.next_commit:
            self.commit()
            self.next_commit = now + COMMIT_MS
        pause = rng.randint(200, 2_000) if rng.random() < cluster.pause_odds else 0
        cluster.at(now + rng.randint(1, 30) + pause, self.step, self)

    def ingest(self) -> None:
        """What the ingest agent does with a batch of input records."""
        cluster = self.cluster
        for tp, reading in sorted(self.readings.items()):
            log = cluster.logs[(tp.topic, tp.partition)]
            if reading.position >= len(log):
                continue
            batch = log[reading.position : reading.position + cluster.rng.randint(1, 20)]
            topic = cluster.topic_kinds[tp.topic]
            bundles: dict[tuple[SubjectKind, int], list[Forward]] = defaultdict(list)
            times: dict[int, int | None] = {}
            """Per offset forwarded, the event time it was forwarded at."""
            disposed: list[tuple[int, Record, Disposition]] = []
            offsets = range(reading.position, reading.position + len(batch))
            dropped = {offset for offset in offsets if self.drops(reading, offset)}
            dropped |= {o for o in offsets if o not in dropped and not self.progress.read(tp, o)}
            for offset, record in enumerate(batch, start=reading.position):
                if record.kind == "marker" or offset in dropped:
                    continue
                try:
                    admitted = admit(topic, record.key, record.value, NOW, timedelta(minutes=5))
                except DecodeError:
                    continue
                if isinstance(admitted, Disposition):
                    disposed.append((offset, record, admitted))
                    continue
                admitted = as_written(admitted, record.headers)
                forwards = forwards_of(
                    PARTITIONS, admitted, topic, tp.partition, offset, record.written
                )
                for kind, partition, forward in forwards:
                    bundles[(kind, partition)].append(forward)
                times[offset] = event_time(admitted)
            for (kind, partition), forwards in sorted(bundles.items()):
                for value in encode_bundles(forwards):
                    self.send((cluster.subject_topic(kind), partition), None, value, "bundle")
            for offset, record, disposition in disposed:
                where = [tp.partition, offset, record.written, encode(disposition).decode()]
                self.send(LINKER_LOG, record.key, orjson.dumps(where), "disposition")
                times[offset] = to_ms(disposition.decided_at)
            for offset, record in enumerate(batch, start=reading.position):
                if offset in dropped:
                    continue
                marker = record.kind == "marker"
                at = times.get(offset)
                self.progress.handled(tp, offset, record.written, at=at, marker=marker)
            reading.position += len(batch)
            done = reading.position if reading.missing is None else reading.missing
            reading.delivered_at.append((done, cluster.sends_made - 1))

    def consume(self) -> None:
        """What a subject agent does with the messages of its partitions."""
        cluster = self.cluster
        for _, holding in sorted(self.holdings.items()):
            log = cluster.logs[(cluster.subject_topic(holding.kind), holding.partition)]
            if holding.position >= len(log):
                continue
            for offset, record in self.taken(log, holding):
                holding.order.read(offset)
                if record.kind == "report":
                    assert record.value is not None
                    report = decode_report(record.value)
                    holding.order.report(report.origins, report.recorded, report.through)
                    if report.awaiting:
                        holding.awaited = dict(report.awaiting)
                else:
                    forwards = decode_bundle(record.value)
                    holding.left[offset] = holding.left.get(offset, 0) + len(forwards)
                    for forward in forwards:
                        hold(holding.order, (offset, forward), forward)
                changed: set[str] = set()
                raised: set[str] = set()
                holding.watermark.committed(
                    cluster.committed[(cluster.subject_topic(holding.kind), holding.partition)]
                )
                for place, (offset_of, forward) in holding.order.ready_placed():
                    applied = self.apply(holding, offset_of, place, forward)
                    if applied is not None:
                        key, alerts = applied
                        changed.add(key)
                        raised.update(alerts)
                    holding.left[offset_of] -= 1
                if cluster.rng.random() < cluster.expiry_odds:
                    changed |= self.expire(holding)
                changelog = (cluster.changelog_topic(holding.kind), holding.partition)
                for key in sorted(changed):
                    value = holding.states.state(key)
                    self.send(changelog, key.encode(), value, "changelog")
                for alert_id in sorted(raised):
                    value = orjson.dumps(holding.raised[alert_id].to_json())
                    self.send(changelog, raised_key(alert_id), value, "changelog")
                holding.delivered_at.append((holding.committable(), cluster.sends_made - 1))
                reached = answers(holding.order, holding.awaited)
                if reached:
                    value = encode_frontier(holding.kind, holding.partition, reached)
                    self.send(LINKER_LOG, None, value, "frontier")

    def taken(self, log: list[Record], reader: Holding | Linking) -> Iterator[tuple[int, Record]]:
        """A few records of `log` from `reader`'s position, each read as it is taken (a
        subject partition's may be dropped)."""
        for _ in range(self.cluster.rng.randint(1, 5)):
            if reader.position >= len(log):
                return
            offset = reader.position
            reader.position += 1
            if isinstance(reader, Holding) and self.drops(reader, offset):
                continue
            yield offset, log[offset]

    def drops(self, reader: Reading | Holding, offset: int) -> bool:
        """Whether Faust drops the record at `offset` it fetched for `reader`, as it can
        while it recovers after an assignment (faust-streaming #596, and records of paused
        partitions). Nothing commits past it, and once the commit has been stuck behind it
        for a while, the partition is read again from its commit (`commit_gaps`)."""
        cluster = self.cluster
        if cluster.now > self.recovering_until or cluster.rng.random() >= cluster.drop_odds:
            return False
        if reader.missing is None:
            reader.missing = offset
            cluster.at(cluster.now + STUCK_MS, lambda: self.read_again(reader), self)
        return True

    def read_again(self, reader: Reading | Holding) -> None:
        """The stuck-commit check: `reader`, still this worker's, goes back to its commit."""
        cluster = self.cluster
        if isinstance(reader, Reading):
            log = (reader.tp.topic, reader.tp.partition)
            current = self.readings.get(reader.tp) is reader
        else:
            log = (cluster.subject_topic(reader.kind), reader.partition)
            current = self.holdings.get((reader.kind, reader.partition)) is reader
        if current and reader.missing is not None:
            reader.position = cluster.committed[log]
            reader.missing = None

    def link(self) -> None:
        """What the case linker's agent does with the messages of its partition."""
        cluster, linking = self.cluster, self.linking
        if linking is None:
            return
        log = cluster.logs[LINKER_LOG]
        links = linking.links
        for at, record in self.taken(log, linking):
            assert record.value is not None
            if record.kind == "alert":
                alert = Alert.model_validate_json(record.value)
                self.linked(links.link(alert, StoredAlert(record.value, b"[]"), NOW))
            elif record.kind == "disposition":
                partition, offset, written, value = orjson.loads(record.value)
                disposition = Disposition.model_validate_json(value)
                stored = Stored.read(partition, offset, written, value.encode())
                with suppress(DecodeError):  # dead-lettered
                    self.linked(links.dispose(disposition, stored, NOW, at))
            elif record.kind == "report":
                links.gate().report(decode_report(record.value).origins)
            else:
                lane, origins = decode_frontier(record.value)
                self.linked(links.frontier(lane, origins))
            for kind, relay in links.relay().items():
                for partition in range(PARTITIONS):
                    log_of = (cluster.subject_topic(kind), partition)
                    self.send(log_of, None, encode_report(relay), "report")
            linking.delivered_at.append((linking.position, cluster.sends_made - 1))

    def linked(self, work: LinkerWork) -> None:
        """Send what the linker's work makes: case records, and what dispositions derive."""
        for record in work.cases:
            self.cluster.cases[record.case_id] = record
        for (kind, partition), forwards in sorted(work.forwards.items()):
            for value in encode_bundles(forwards):
                self.send((self.cluster.subject_topic(kind), partition), None, value, "bundle")

    def apply(
        self, holding: Holding, offset: int, place: Key, offered_forward: Forward
    ) -> tuple[str, list[str]] | None:
        """Apply one event, brought by the message at `offset` and at `place` in the
        partition's order, to its subject's state (a disposition offered, as `offered`
        decides); the subject's key and the alerts raised kept, or None if it did
        nothing."""
        cluster = self.cluster
        forward = offered(holding.raised.get, offered_forward, place)
        if forward is None:
            return None
        key = forward.key.decode()
        outcome = apply_forward(
            holding.states, holding.kind, forward, offset, holding.watermark, NOW
        )
        if not outcome.duplicate:
            entry = (holding.kind, key, delivery_key(forward.event))
            (cluster.late if outcome.late else cluster.counted).add(entry)
        cluster.applied.append((holding.kind, key, forward.event))
        kept = []
        for alert in outcome.alerts:
            value = encode(alert.model_copy(update={"detected_at": NOW}))
            self.send(ALERTS_LOG, alert.alert_id.encode(), value, "alert")
            self.send(LINKER_LOG, alert.alert_id.encode(), value, "alert")
            entry = raised(alert, place)
            if entry is not None and alert.alert_id not in holding.raised:
                holding.raised[alert.alert_id] = entry
                kept.append(alert.alert_id)
        for listing in outcome.listings:
            self.listing(listing.identity, encode(listing))
        for identity in outcome.lifts:
            self.listing(identity, None)
        return key, kept

    def expire(self, holding: Holding) -> set[str]:
        """An expiry request read in the partition (`sweeper`): every subject is trimmed
        against the partition's watermark, and deleted if nothing is left; the subjects
        changed."""
        watermark = holding.watermark.value(holding.kind)
        if watermark is None:
            return set()
        return {key for key in holding.states.ids() if expire_held(holding.states, key, watermark)}

    def listing(self, identity: str, value: bytes | None) -> None:
        key = identity.encode()
        partition = partition_of(key, PARTITIONS)
        headers = () if value is not None else ((LIFTED_OWN_HEADER, LIFTED_OWN),)
        record = Record(key, value, -1, "input", headers)
        self.cluster.send(self, (self.cluster.topic("watchlist"), partition), record)

    def report(self) -> None:
        """The progress timer: markers due, then a report if it says something new."""
        cluster, now = self.cluster, self.cluster.now / 1000
        consumer = self.consumer()
        markers, report, linker_report = due(
            self,  # type: ignore[arg-type]
            consumer,
            cluster.topic_kinds,
            self.schedules,
            MARKER_REACH_MS,
            now,
        )
        for tp in markers:
            self.send((tp.topic, tp.partition), MARKER_KEY, b"", "marker")
            self.progress.mark(tp, now)
        if linker_report is not None:
            self.send(LINKER_LOG, None, encode_report(linker_report), "report")
        if report is not None:
            value = encode_report(report)
            for kind in SUBJECT_KINDS:
                for partition in range(PARTITIONS):
                    self.send((cluster.subject_topic(kind), partition), None, value, "report")

    def commit(self) -> None:
        """Commit what is done: input read and its sends delivered, subject events applied."""
        cluster = self.cluster
        delivered = cluster.delivered_below(self)
        for tp, reading in self.readings.items():
            done = [p for p, seq in reading.delivered_at if seq < delivered]
            if done:
                cluster.committed[(tp.topic, tp.partition)] = max(done)
                reading.delivered_at = [(p, s) for p, s in reading.delivered_at if s >= delivered]
        for (kind, partition), holding in self.holdings.items():
            done = [p for p, seq in holding.delivered_at if seq < delivered]
            if done:
                cluster.committed[(cluster.subject_topic(kind), partition)] = max(done)
                holding.delivered_at = [(p, s) for p, s in holding.delivered_at if s >= delivered]
        linking = self.linking
        if linking is not None:
            done = [p for p, seq in linking.delivered_at if seq < delivered]
            if done:
                cluster.committed[LINKER_LOG] = max(done)
                linking.delivered_at = [(p, s) for p, s in linking.delivered_at if s >= delivered]

    def send(self, log: tuple[str, int], key: bytes | None, value: bytes | None, kind: str) -> None:
        self.cluster.send(self, log, Record(key, value, -1, kind))


class Cluster:
    """The broker, the producers of the history, and the workers, on one clock."""

    def __init__(
        self, seed: int, history: History, workers: int, max_delay: int, policy: Policy
    ) -> None:
        self.rng = random.Random(seed)
        self.history = history
        self.max_delay = max_delay
        self.now = 0
        self._queue: list[tuple[int, int, Callable[[], None], Worker | None, int]] = []
        self._seq = itertools.count()
        self.logs: dict[tuple[str, int], list[Record]] = defaultdict(list)
        self.committed: dict[tuple[str, int], int] = defaultdict(int)
        self.policy = policy
        self.counted: set[Entry] = set()
        """What the workers' subjects counted (as `Ledger` notes replay's)."""
        self.late: set[Entry] = set()
        self.alerts: dict[str, bytes] = {}
        self.cases: dict[str, Case] = {}
        """The latest record of each case."""
        self.linker_table: dict[bytes, bytes] = {}
        """The case linker's table: written as the linker works, kept across crashes."""
        self.applied: list[tuple[SubjectKind, str, Any]] = []
        """Every (kind, subject, event) applied, in order: for finding out why a seed failed."""
        self.conflicts: list[str] = []
        self.topic_kinds: dict[str, InputTopic] = {self.topic(t): t for t in READ_TOPICS}
        self.workers = [Worker(self, f"w{n}") for n in range(workers)]
        self.sends_made = 0
        self._undelivered: dict[Worker | None, set[int]] = defaultdict(set)
        self._lands: dict[tuple[Any, tuple[str, int]], int] = {}
        self.pause_odds = self.rng.choice((0.0, 0.01, 0.05))
        self.drop_odds = self.rng.choice((0.0, 0.0, 0.01, 0.03))
        """How often Faust drops a record it fetched (input or subject)."""
        self.expiry_odds = self.rng.choice((0.0, 0.02, 0.1))
        """How often a subject partition's reader finds an expiry request among what it
        reads (`sweeper`)."""
        self.rebalancing = False
        self.produced = False

    @staticmethod
    def topic(name: str) -> str:
        return f"in.{name}"

    @staticmethod
    def subject_topic(kind: SubjectKind) -> str:
        return f"duanka-{kind}-events"

    @staticmethod
    def changelog_topic(kind: SubjectKind) -> str:
        return f"duanka-{kind}-changelog"

    def restored(self, kind: SubjectKind, partition: int) -> tuple[Subjects, dict[str, Raised]]:
        """A subject partition's states, and the alerts it raised, as its changelog holds
        them (what has landed)."""
        values: dict[bytes, bytes] = {}
        for record in self.logs[(self.changelog_topic(kind), partition)]:
            assert record.key is not None
            if record.value is None:
                values.pop(record.key, None)
            else:
                values[record.key] = record.value
        states, raised = Subjects(kind, self.policy.in_ms()), {}
        for key, value in values.items():
            if key.startswith(RAISED):
                raised[key.removeprefix(RAISED).decode()] = Raised.from_json(orjson.loads(value))
            else:
                states.load(key.decode(), value)
        return states, raised

    def at(self, when: int, action: Callable[[], None], worker: Worker | None = None) -> None:
        epoch = worker.epoch if worker else 0
        heapq.heappush(self._queue, (when, next(self._seq), action, worker, epoch))

    def send(self, worker: Worker | None, log: tuple[str, int], record: Record) -> None:
        """A producer's send: lands after a delay, after its earlier sends to that partition."""
        seq = self.sends_made
        self.sends_made += 1
        lands = max(
            self.now + self.rng.randint(0, self.max_delay), self._lands.get((worker, log), 0)
        )
        self._lands[(worker, log)] = lands
        self._undelivered[worker].add(seq)
        send = Send(log, record, worker, worker.epoch if worker else 0, seq)
        self.at(lands, lambda: self._land(send))

    def _land(self, send: Send) -> None:
        if send.worker is not None and send.worker.epoch != send.epoch:
            return  # its producer died with its worker
        self._undelivered[send.worker].discard(send.seq)
        send.record.written = self.now
        self.logs[send.log].append(send.record)
        if send.log == ALERTS_LOG:
            assert send.record.key is not None and send.record.value is not None
            self.publish(send.record.key.decode(), send.record.value)

    def delivered_below(self, worker: Worker) -> int:
        """Every send of `worker` below this sequence number has landed."""
        return min(self._undelivered[worker], default=self.sends_made)

    def publish(self, alert_id: str, value: bytes) -> None:
        known = self.alerts.setdefault(alert_id, value)
        if known != value:
            self.conflicts.append(alert_id)

    def assign(self) -> None:
        """Deal every partition to the live workers, each read from its committed offset."""
        live = [w for w in self.workers if w.alive]
        if not live:
            return  # the next restart deals them
        inputs = [TP(self.topic(t), p) for t in READ_TOPICS for p in range(PARTITIONS)]
        subjects = [(k, p) for k in SUBJECT_KINDS for p in range(PARTITIONS)]
        self.rng.shuffle(inputs)
        self.rng.shuffle(subjects)
        input_partitions = {t: PARTITIONS for t in READ_TOPICS}
        links = CaseLinks(self.linker_table, self.policy, PARTITIONS)
        self.rng.choice(live).linking = Linking(self.committed[LINKER_LOG], links)
        for worker in live:
            worker.recovering_until = self.now + RECOVERY_MS
        for n, tp in enumerate(inputs):
            worker = live[n % len(live)]
            worker.readings[tp] = Reading(tp, self.committed[(tp.topic, tp.partition)])
        for n, (kind, partition) in enumerate(subjects):
            worker = live[n % len(live)]
            log = (self.subject_topic(kind), partition)
            order: EventOrder[tuple[int, Forward]] = new_order(
                kind,
                input_partitions,
                lambda reason: None,
                self.committed[log],
            )
            worker.holdings[(kind, partition)] = Holding(
                kind,
                partition,
                self.committed[log],
                order,
                CommittedWatermark(input_partitions),
                *self.restored(kind, partition),
            )

    def rebalance(self) -> None:
        """Every live worker gives everything up: it drops the events it held and commits
        nothing more, as Faust commits nothing of a partition once its revocation has begun
        (it forgets the committed offset: `patches.commit_head`). Once their sends have
        landed, everything is dealt again, each partition read from its last commit."""
        if self.rebalancing:
            return
        self.rebalancing = True
        self.at(self.now + self.max_delay + 1, self._after_give_up)

    def _after_give_up(self) -> None:
        for worker in self.workers:
            if worker.alive:
                worker.reset()
        self.rebalancing = False
        self.assign()

    def crash(self, worker: Worker, restart_after: int) -> None:
        """The worker dies: what it held, read and had on its way is lost. Its partitions
        wait for the group to notice, then are dealt again."""
        worker.alive = False
        worker.epoch += 1
        self._undelivered.pop(worker, None)
        worker.reset()

        def restart() -> None:
            worker.alive = True
            self.at(self.now, worker.step, worker)
            self.rebalance()

        self.at(self.now + restart_after, restart)

    def produce(self) -> None:
        """The history's producers: one per topic, each line sent `gap` after the last."""
        gap = self.history.gap
        for number, line in enumerate(self.history.lines):
            partition = partition_of(line.key.encode(), PARTITIONS)
            log = (self.topic(line.topic), partition)
            record = Record(line.key.encode(), line.value, -1, "input")
            self.at(number * gap, lambda log=log, record=record: self.send(None, log, record))
        self.at(len(self.history.lines) * gap, self._produced)

    def _produced(self) -> None:
        self.produced = True

    def settled(self) -> bool:
        """Everything produced has landed, been read and applied; nothing is held."""
        if not self.produced or self._undelivered[None] or self.rebalancing:
            return False
        for (topic, partition), log in self.logs.items():
            if topic in self.topic_kinds:
                readers = [w.readings.get(TP(topic, partition)) for w in self.workers]
                if not any(
                    r is not None and r.position >= len(log) and r.missing is None for r in readers
                ):
                    return False
        for worker in self.workers:
            if not worker.alive:
                return False
            for holding in worker.holdings.values():
                log = self.logs[(self.subject_topic(holding.kind), holding.partition)]
                if holding.order or holding.position < len(log) or holding.missing is not None:
                    return False
            linking = worker.linking
            if linking is not None and linking.position < len(self.logs[LINKER_LOG]):
                return False
        return not any(self._undelivered.values())

    def run(self, until: int, disruptions: int) -> bool:
        """Run the history to its end; True if everything was applied by `until` (ms)."""
        self.assign()
        for worker in self.workers:
            self.at(self.rng.randint(0, 20), worker.step, worker)
        self.produce()
        span = max(1, len(self.history.lines) * self.history.gap)
        for _ in range(disruptions):
            when = self.rng.randint(0, span + 1_000)
            if self.rng.random() < 0.5:
                worker = self.rng.choice(self.workers)
                restart = self.rng.randint(100, 3_000)
                self.at(when, lambda w=worker, r=restart: w.alive and self.crash(w, r))
            else:
                self.at(when, self.rebalance)
        while self._queue:
            when, _, action, worker, epoch = heapq.heappop(self._queue)
            if when > until:
                return False
            if worker is not None and worker.epoch != epoch:
                continue
            if when // 100 > self.now // 100 and self.settled():
                return True
            self.now = max(self.now, when)
            action()
        return self.settled()
