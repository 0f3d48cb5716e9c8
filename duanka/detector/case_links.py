"""The case linker of the worker holding the `case-alerts` partition, and its table.

The table holds every alert linked, by alert id, with its ties (`core.ties`), and every
disposition taken or held, by alert id and institution (`disposition_key`), with where it
was read in `dispositions`: the linker's state and, through Faust, its changelog. A linker
is restored from the table when the partition is assigned, at the first message read
(`linking` describes the order of work).

The first disposition of an alert by an institution is offered, as it is read, to every
partition of the kind of subject it can act on, and the one that raised the alert before
its place applies what it derives (`core.disposal`). The table keeps which linker message
offered it before the linker's offset is committed, but the sends may not have landed when
a worker dies: that message, read again, offers it again, and a partition that applied it
already finds its subject has it (a duplicate).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from duanka.detector.bundle import Forward, partition_of
from duanka.detector.core.cases import CaseLinker, Disposal
from duanka.detector.core.clock import to_ms
from duanka.detector.core.disposal import ACTS_ON
from duanka.detector.core.disposition_gate import Awaited, DispositionGate, Position
from duanka.detector.core.policy import Policy
from duanka.detector.core.routing import SUBJECT_KINDS, Stream
from duanka.detector.core.state import Entity
from duanka.detector.core.ties import Tie, decode_ties
from duanka.detector.core.watermark import LINKED_TOPICS, origin_of
from duanka.detector.progress import Report
from duanka.schemas.alerts import Alert, SubjectKind
from duanka.schemas.cases import Case
from duanka.schemas.dispositions import Disposition


class Stored(NamedTuple):
    """A disposition as the table holds it: where it was read in `dispositions` and when it
    was written there, whether it was placed without its alert (`disposition_gate`), the
    offset of the linker's message that offered it to subjects (-1: none did), and its
    value as read."""

    partition: int
    offset: int
    written: int
    placed: bool
    sent_at: int
    value: bytes

    def encode(self) -> bytes:
        """`<partition>:<offset>:<written>:<placed 0|1>:<sent at>:<value>`."""
        return b"%d:%d:%d:%d:%d:%s" % (
            self.partition,
            self.offset,
            self.written,
            self.placed,
            self.sent_at,
            self.value,
        )

    @classmethod
    def decode(cls, stored: bytes) -> "Stored":
        partition, offset, written, placed, sent_at, value = stored.split(b":", 5)
        return cls(int(partition), int(offset), int(written), placed == b"1", int(sent_at), value)

    @classmethod
    def read(cls, partition: int, offset: int, written: int, value: bytes) -> "Stored":
        """A disposition as read, neither placed nor sent."""
        return cls(partition, offset, written, False, -1, value)

    def origin(self) -> str:
        """The `dispositions` partition it was read from, as an origin (`ordering`)."""
        return origin_of("dispositions", self.partition)

    def position(self, disposition: Disposition) -> Position:
        """Its place in a subject partition's order."""
        return Position(to_ms(disposition.decided_at), self.written, self.offset)

    def awaited(self, disposition: Disposition) -> Awaited:
        """Its place, and the kind of subject it can act on (None: none)."""
        return Awaited(self.position(disposition), ACTS_ON.get(disposition.outcome))


class StoredAlert(NamedTuple):
    """An alert as the table holds it: its value as read, and what its evidence ties
    together (`core.ties`, encoded)."""

    value: bytes
    ties: bytes

    def encode(self) -> bytes:
        """`<ties>\n<value>`: neither holds a raw newline (both are compact JSON)."""
        return self.ties + b"\n" + self.value

    @classmethod
    def decode(cls, stored: bytes) -> "StoredAlert":
        ties, _, value = stored.partition(b"\n")
        return cls(value, ties)

    def read(self) -> tuple[Alert, list[Tie]]:
        """The alert and its ties; raises ValueError if either does not decode."""
        return Alert.model_validate_json(self.value), decode_ties(self.ties)


def disposition_key(disposition: Disposition) -> bytes:
    """The table key of a disposition: `<alert id>/<institution>` (an alert's is its id)."""
    return token(disposition).encode()


def token(disposition: Disposition) -> str:
    """A disposition as the gate knows it: `<alert id>/<institution>`."""
    return f"{disposition.alert_id}/{disposition.institution}"


@dataclass
class LinkerWork:
    """What one message makes the linker send: case records, dispositions offered to
    subjects (per subject-topic partition), and the dispositions whose alerts are not
    coming."""

    cases: list[Case] = field(default_factory=list)
    forwards: dict[tuple[SubjectKind, int], list[Forward]] = field(default_factory=dict)
    unknown: list[tuple[Disposition, Stored]] = field(default_factory=list)
    taken: list[Disposal] = field(default_factory=list)
    """The dispositions taken that are new (counted once each)."""

    def offer(self, disposition: Disposition, stored: Stored, partitions: int) -> None:
        """Offer a disposition read at `stored` to each of the `partitions` partitions of
        the kind of subject it can act on (none: it acts on none), at its place in their
        order by when it was decided and written."""
        kind = ACTS_ON.get(disposition.outcome)
        if kind is None:
            return
        stream: Stream = "flag" if kind == "account" else "appeal"
        key = disposition.alert_id.encode()
        offered = Forward(
            key,
            stream,
            "dispositions",
            stored.partition,
            stored.offset,
            stored.written,
            disposition,
        )
        for to in range(partitions):
            self.forwards.setdefault((kind, to), []).append(offered)


class CaseLinks:
    """The linker of the worker holding the `case-alerts` partition, restored when it is
    assigned."""

    __slots__ = ("_gate", "_linker", "partitions", "policy", "relayed", "table")

    def __init__(self, table: Any, policy: Policy, partitions: int) -> None:
        self.table = table
        """Every alert linked and disposition taken or held: the linker's state, and its
        changelog."""
        self.policy = policy
        self.partitions = partitions
        """How many partitions each subject topic has: an alert's lane is its subject's."""
        self._linker: CaseLinker | None = None
        self._gate: DispositionGate | None = None
        self.relayed: dict[SubjectKind, Report] = {}
        """Per subject kind, the progress report last relayed to its partitions
        (`linking`)."""

    def linker(self) -> CaseLinker:
        """The linker, restored from the table if the partition was (re)assigned since."""
        if self._linker is None:
            self._restore()
        assert self._linker is not None
        return self._linker

    def gate(self) -> DispositionGate:
        """What is relayed to subjects, and which dispositions await their alerts,
        restored with the linker."""
        if self._gate is None:
            self._restore()
        assert self._gate is not None
        return self._gate

    def _restore(self) -> None:
        """Restore from the table."""
        alerts, dispositions, kept = [], [], []
        for key, value in self.table.items():
            if b"/" in key:
                stored = Stored.decode(value)
                disposition = Disposition.model_validate_json(stored.value)
                dispositions.append(disposition)
                kept.append((disposition, stored))
            else:
                alerts.append(Alert.model_validate_json(StoredAlert.decode(value).value))
        linker = CaseLinker.of(self.policy, self.lane)
        linker.placing = True
        linker.restore(alerts)
        placed = {token(d) for d, stored in kept if stored.placed}
        linker.restore_dispositions(dispositions, lambda d: token(d) in placed)
        gate = DispositionGate(self.lanes())
        gate.restore(
            (stored.origin(), token(d), stored.awaited(d))
            for d, stored in kept
            if (d.alert_id, d.institution) in linker.unplaced
        )
        self._linker, self._gate = linker, gate

    def lanes(self) -> frozenset[tuple[SubjectKind, int]]:
        """Every partition of the subject topics that dispositions are offered to."""
        return frozenset(
            (kind, partition)
            for kind in SUBJECT_KINDS
            if kind in LINKED_TOPICS
            for partition in range(self.partitions)
        )

    def held(self) -> int:
        """How many dispositions the linker holds (none before it is restored)."""
        return 0 if self._linker is None else self._linker.held_count()

    def lane(self, subject: Entity) -> tuple[str, int]:
        """The subject partition an alert about `subject` comes from."""
        kind, id = subject
        return kind, partition_of(id.encode(), self.partitions)

    def link(self, alert: Alert, stored: "StoredAlert", now: datetime) -> LinkerWork:
        """Link an alert (read as `stored`), taking the dispositions held for it: they set
        its case's status; what they do to its subject its partition decided when it had
        them (`core.disposal`)."""
        linking = self.linker().link(alert, now)
        work = LinkerWork(linking.cases)
        for disposal in linking.disposals:
            self.gate().taken(
                self.stored(disposal.disposition).origin(), token(disposal.disposition)
            )
            if disposal.new:
                work.taken.append(disposal)
        self._unknown(work, linking.expired)
        self.table[alert.alert_id.encode()] = stored.encode()
        return work

    def alert(self, alert_id: str) -> "StoredAlert | None":
        """An alert linked, with its ties; None if none is."""
        value = self.table.get(alert_id.encode())
        return None if value is None else StoredAlert.decode(value)

    def dispose(
        self, disposition: Disposition, stored: Stored, now: datetime, at: int
    ) -> LinkerWork:
        """Take a disposition read at `stored` (by the linker's message at offset `at`), or
        hold it awaiting its alert. The first of its alert by its institution is offered to
        subjects (`LinkerWork.offer`), and again when the message that offered it is read
        again. Raises `DecodeError` for one the linker rejects."""
        gate = self.gate()
        gate.read(stored.origin(), stored.position(disposition))
        disposal = self.linker().dispose(disposition, now)
        kept = self.kept(disposition)
        offered = kept is None or kept.sent_at == at
        stored = kept or stored  # read again, or a copy of the first: as the first was
        work = LinkerWork()
        if disposal is not None:
            work.cases += disposal.cases
            if disposal.new:
                work.taken.append(disposal)
        elif not stored.placed:
            gate.await_alert(stored.origin(), token(disposition), *stored.awaited(disposition))
        if offered:
            work.offer(disposition, stored, self.partitions)
            stored = stored._replace(sent_at=at)
        if stored != kept:  # a copy of the first changes nothing
            self.store(disposition, stored)
        return work

    def frontier(
        self, lane: tuple[SubjectKind, int], origins: Mapping[str, Position]
    ) -> LinkerWork:
        """A subject partition's frontier; the dispositions every partition has reached
        before their alerts are placed without them."""
        gate = self.gate()
        for origin, position in origins.items():
            gate.frontier(lane, origin, position)
        work = LinkerWork()
        for _, placed in gate.placed():
            self._unknown(work, self.place(placed))
        return work

    def relay(self) -> dict[SubjectKind, Report]:
        """Per subject kind, the progress report to relay to its partitions, if it says
        something new."""
        reports = {}
        for kind in LINKED_TOPICS:
            origins, awaited, through = self.gate().relay(kind)
            report = Report(origins, None, awaited, through)
            if origins and report != self.relayed.get(kind):
                self.relayed[kind] = reports[kind] = report
        return reports

    def _unknown(self, work: LinkerWork, dispositions: list[Disposition]) -> None:
        for disposition in dispositions:
            work.unknown.append((disposition, self.stored(disposition)))
            self.drop(disposition)

    def store(self, disposition: Disposition, stored: Stored) -> None:
        """Keep a disposition taken or held."""
        self.table[disposition_key(disposition)] = stored.encode()

    def stored(self, disposition: Disposition) -> Stored:
        """A disposition kept: where it was read, and its value."""
        return Stored.decode(self.table[disposition_key(disposition)])

    def kept(self, disposition: Disposition) -> Stored | None:
        """A disposition kept already (this one read again, or an earlier one of the same
        alert and institution); None if none is."""
        value = self.table.get(disposition_key(disposition))
        return None if value is None else Stored.decode(value)

    def place(self, token: str) -> list[Disposition]:
        """A disposition held is placed without its alert (`disposition_gate`): no partition
        raised its alert before it, and from now on it may be rejected, also by a linker
        restored from the table. Returned if its alert is not coming: the alerts linked
        reach the grace past it already."""
        key = token.encode()
        stored = Stored.decode(self.table[key])._replace(placed=True)
        self.table[key] = stored.encode()
        disposition = Disposition.model_validate_json(stored.value)
        return self.linker().place(disposition.alert_id, disposition.institution)

    def drop(self, disposition: Disposition) -> None:
        """Forget a disposition held (rejected: its alert is not coming)."""
        stored = self.stored(disposition)
        self.gate().taken(stored.origin(), token(disposition))
        del self.table[disposition_key(disposition)]

    def forget(self) -> None:
        """The partition was revoked: restore afresh if it comes back (another worker may
        have linked alerts meanwhile)."""
        self._linker = None
        self._gate = None
        self.relayed = {}
