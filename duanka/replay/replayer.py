"""Offline replay: the streaming worker's pipeline, in memory, over the replay format.

Each line is `{"topic": "<input topic>", "key": "optional", "value": {event} | null}`, in
the order the worker would consume the messages. Every message is admitted, routed to its
subjects and applied by the same functions the worker uses; duanka's own watchlist entries
are routed back in memory, as the worker routes them back through the `watchlist` topic.
Every alert is linked into cases, and every disposition taken, by the worker's case linker
(`core.cases`); the case records it makes are collected in order (`take_cases`). A
disposition of an alert raised before its line acts on its subject there; one of an alert
not raised yet is held as the worker holds it, sets its case's status when the alert comes,
and does nothing to subjects: the dead letter of one whose alert does not come is made when
the alerts reach past its decision by the grace, or when the replay ends (`finish`), and is
collected with the others (`take_letters`).
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import orjson

from duanka.detector.core.cases import CaseLinker, Disposal, unknown_alert
from duanka.detector.core.engine import Engine
from duanka.detector.core.intake import (
    INPUT_TOPICS,
    Admitted,
    InputTopic,
    admit,
    dead_letter,
)
from duanka.detector.core.routing import Address, route
from duanka.detector.core.state import SubjectState
from duanka.detector.core.subject_memory import Applied, NativeMemory, SubjectMemory
from duanka.detector.core.watermark import Watermark, topic_origin
from duanka.schemas.alerts import Alert, DeadLetter, RuleName, SubjectKind
from duanka.schemas.cases import Case
from duanka.schemas.codec import DecodeError, encode
from duanka.schemas.dispositions import Disposition, DispositionOutcome

REPLAY_TOPIC = "replay"
"""The `topic` of dead letters for lines that are not replay records at all."""
SWEEP_EVERY = 100_000
"""Events between two expiries of quiet subjects: keeps a long replay's memory bounded."""


class Line(NamedTuple):
    """A replay line, as admitted."""

    topic: str
    number: int
    key: bytes | None
    raw: bytes | None


@dataclass
class ReplayStats:
    """What a replay saw and produced."""

    events: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    alerts: Counter[str] = field(default_factory=Counter)
    dispositions: Counter[tuple[RuleName, DispositionOutcome]] = field(default_factory=Counter)
    """Per rule of the alert and outcome, the dispositions taken."""
    late: int = 0
    duplicates: int = 0
    expired: int = 0
    """Subjects forgotten because they went quiet."""


@dataclass
class Replayer:
    """Holds every subject's state in memory and applies messages in order, in batches;
    quiet subjects expire between batches. Each input topic is read as one partition, and
    one watermark follows them all. The states and the engine are the native core's
    (`NativeMemory`) unless a `memory` is given (`PythonMemory`: the Python reference)."""

    engine: Engine
    max_clock_skew: timedelta = timedelta(minutes=5)
    sweep_every: int = SWEEP_EVERY
    memory: SubjectMemory | None = None
    stats: ReplayStats = field(default_factory=ReplayStats)
    watermark: Watermark = field(default_factory=Watermark)
    _since_sweep: int = field(default=0, init=False)
    _touched: dict[SubjectKind, dict[str, int | None]] = field(default_factory=dict, init=False)
    """Per kind, each subject's watermark when it was last applied to (or swept), in the
    order they were last touched: a sweep looks only at subjects untouched for the kind's
    retention, from the front, and stops at the first touched since."""
    linker: CaseLinker = field(init=False)
    _cases: list[Case] = field(default_factory=list, init=False)
    _letters: list[DeadLetter] = field(default_factory=list, init=False)
    """Dead letters of held dispositions, made at later lines."""
    _line: Line | None = field(default=None, init=False)
    """The line being replayed."""
    _held_at: dict[tuple[str, str], Line] = field(default_factory=dict, init=False)
    """Per (alert id, institution) of a disposition held, its line."""

    def __post_init__(self) -> None:
        self.linker = CaseLinker.of(self.engine.policy)
        if self.memory is None:
            self.memory = NativeMemory(self.engine.policy)
        self._memory: SubjectMemory = self.memory

    @property
    def states(self) -> Mapping[tuple[SubjectKind, str], SubjectState]:
        """Every subject's state, by kind and id."""
        return self._memory

    def take_cases(self) -> list[Case]:
        """The case records made since they were last taken, in order."""
        cases, self._cases = self._cases, []
        return cases

    def take_letters(self) -> list[DeadLetter]:
        """The dead letters of held dispositions made since they were last taken, in order."""
        letters, self._letters = self._letters, []
        return letters

    def finish(self) -> list[DeadLetter]:
        """The stream has ended: the dead letters of the dispositions still held (their alerts
        were not raised) and of any made before and not taken yet."""
        self._unknown(self.linker.give_up_held())
        return self.take_letters()

    def replay_line(self, line: bytes, number: int) -> tuple[list[Alert], DeadLetter | None]:
        """Apply one line; returns its alerts, or the dead letter that rejects it."""
        [result] = self.replay_batch([(number, line)])
        return result

    def replay_batch(
        self, lines: Sequence[tuple[int, bytes]]
    ) -> list[tuple[list[Alert], DeadLetter | None]]:
        """Apply numbered lines in order; per line its alerts, or the dead letter that rejects
        it. Quiet subjects are expired only between batches, as the worker does."""
        results = [self._replay_line(line, number) for number, line in lines]
        self._batch_done(len(lines))
        return results

    def apply(self, event: Admitted, partition: int = 0) -> list[Alert]:
        """Apply an admitted event, read from `partition` of its topic, to every subject it
        concerns (duanka's own listings are in force at once: the engine sets them). A
        disposition the case linker rejects is dead-lettered (`take_letters`)."""
        alerts = self._apply_admitted(event, partition)
        self._batch_done(1)
        return alerts

    def apply_batch(self, events: Sequence[Admitted]) -> list[Alert]:
        """Apply admitted events in order; their alerts, in order."""
        alerts = [alert for event in events for alert in self._apply_admitted(event)]
        self._batch_done(len(events))
        return alerts

    def _apply_admitted(self, event: Admitted, partition: int = 0) -> list[Alert]:
        try:
            return self._apply(event, partition)
        except DecodeError as exc:
            if not isinstance(event, Disposition):
                raise
            line = self._line_of(event)
            letter = self._dead_letter(line.topic, line.number, line.key, line.raw, exc)
            self._letters.append(letter)
            return []

    def _replay_line(self, line: bytes, number: int) -> tuple[list[Alert], DeadLetter | None]:
        try:
            topic, key, value = _parse_line(line)
        except DecodeError as exc:
            return [], self._dead_letter(REPLAY_TOPIC, number, None, line, exc)
        self._line = Line(topic, number, key, value)
        try:
            event = admit(topic, key, value, datetime.now(UTC), self.max_clock_skew)
            alerts = self._apply(event, offset=number)
        except DecodeError as exc:  # rejected at admission, or by the case linker
            return [], self._dead_letter(topic, number, key, value, exc)
        finally:
            self._line = None
        self.stats.events[topic] += 1
        return alerts, None

    def _dispose(self, disposition: Disposition) -> list[Alert]:
        """Take a disposition, and apply what it sends to subjects; the alerts that raises.
        Raises `DecodeError` for a disposition the linker rejects."""
        disposal = self.linker.dispose(disposition, datetime.now(UTC))
        if disposal is None:
            held = (disposition.alert_id, disposition.institution)
            self._held_at[held] = self._line or self._line_of(disposition)
            return []
        return self._took(disposal)

    def _line_of(self, disposition: Disposition) -> Line:
        """A disposition applied without its replay line, as a line of its topic."""
        return Line("dispositions", 0, disposition.alert_id.encode(), encode(disposition))

    def _took(self, disposal: Disposal) -> list[Alert]:
        """Count a disposition taken at its line, and apply what it sends to subjects."""
        self._count(disposal)
        return [alert for derived in disposal.derived for alert in self._apply(derived)]

    def _count(self, disposal: Disposal) -> None:
        """Collect a disposition's case records, and count it if it is new."""
        self._cases += disposal.cases
        if disposal.new:
            self.stats.dispositions[(disposal.rule, disposal.disposition.outcome)] += 1

    def _apply(self, event: Admitted, partition: int = 0, offset: int | None = None) -> list[Alert]:
        """Apply an event read at `offset` of `partition` (a line's number: replay reads
        each topic as one partition; None: not read from a line)."""
        if isinstance(event, Disposition):
            return self._dispose(event)
        self.watermark.observe(event, partition)
        origin = topic_origin(event, partition)
        alerts: list[Alert] = []
        now = datetime.now(UTC)
        for address in route(event):
            outcome = self._apply_at(address, event, origin, offset, now)
            if not outcome.duplicate:  # a duplicate's first sends are in this output already
                alerts += outcome.alerts
        self._raised(alerts, now)
        return alerts

    def _raised(self, alerts: list[Alert], now: datetime) -> None:
        """Count alerts raised, and link them into cases, taking the dispositions held for
        them: those set their cases' status, and do nothing to subjects (written before
        their alert was raised, they did not decide on it)."""
        for alert in alerts:
            self.stats.alerts[alert.rule] += 1
            linking = self.linker.link(alert, now)
            self._cases += linking.cases
            for disposal in linking.disposals:
                self._held_at.pop((alert.alert_id, disposal.disposition.institution), None)
                self._count(disposal)
            self._unknown(linking.expired)

    def _unknown(self, dispositions: list[Disposition]) -> None:
        """Dead-letter held dispositions whose alerts are not coming, at their lines."""
        for disposition in dispositions:
            line = self._held_at.pop((disposition.alert_id, disposition.institution))
            error = unknown_alert(disposition)
            self._letters.append(
                self._dead_letter(line.topic, line.number, line.key, line.raw, error)
            )

    def _batch_done(self, size: int) -> None:
        self._since_sweep += size
        if self._since_sweep >= self.sweep_every:
            self.sweep()

    def sweep(self) -> None:
        """Expire the subjects of each kind untouched for the kind's retention, against the
        kind's watermark. A subject touched since then was settled at its own events; one
        that still holds something (a listing in force, a corporate opening, records ahead
        of the watermark) is looked at again after another retention."""
        self._since_sweep = 0
        for kind, touched in self._touched.items():
            watermark = self.watermark.value(kind)
            if watermark is None:
                continue
            horizon = watermark - self._memory.retention(kind)
            due = []
            for subject, at in touched.items():
                if at is not None and at > horizon:
                    break
                due.append(subject)
            for subject in due:
                del touched[subject]
                if self._memory.expire(kind, subject, watermark):
                    self.stats.expired += 1
                else:
                    touched[subject] = watermark

    def _apply_at(
        self, address: Address, event: Admitted, origin: str, offset: int | None, now: datetime
    ) -> Applied:
        kind = address.kind
        watermark = self.watermark.value(kind)
        outcome = self._memory.apply(
            address, event, now, origin=origin, offset=offset, watermark=watermark
        )
        touched = self._touched.setdefault(kind, {})
        touched.pop(address.id, None)
        if (kind, address.id) in self._memory:
            touched[address.id] = watermark
        self.stats.late += outcome.late
        self.stats.duplicates += outcome.duplicate
        return outcome

    def _dead_letter(
        self, topic: str, number: int, key: bytes | None, raw: bytes | None, exc: DecodeError
    ) -> DeadLetter:
        self.stats.dead_letters[exc.reason] += 1
        return dead_letter(topic, 0, number, key, raw, exc, datetime.now(UTC))


def _parse_line(line: bytes) -> tuple[InputTopic, bytes | None, bytes | None]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise DecodeError("not_json", f"line is not JSON: {exc}") from None
    if not isinstance(record, dict) or set(record) - {"topic", "key", "value"}:
        raise DecodeError("invalid", 'a replay line is {"topic", "key", "value"}')
    topic, key, value = record.get("topic"), record.get("key"), record.get("value")
    if topic not in INPUT_TOPICS:
        raise DecodeError("invalid", f"topic must be one of {', '.join(INPUT_TOPICS)}")
    if key is not None and not isinstance(key, str):
        raise DecodeError("invalid", "key must be a string or null")
    return (
        topic,
        None if key is None else key.encode(),
        None if value is None else orjson.dumps(value),
    )
