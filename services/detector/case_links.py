"""The case linker of the worker holding the `case-alerts` partition, and its table.

The table holds every alert linked, by alert id, and every disposition taken or held, by
alert id and institution (`disposition_key`), with where it was read in `dispositions`: the
linker's state and, through Faust, its changelog. A linker is restored from the table on
first use after each assignment of the partition (`linking` describes the order of work).
"""

from typing import TYPE_CHECKING, Any, NamedTuple

from schemas.alerts import Alert, SubjectKind
from schemas.dispositions import Disposition
from services.detector.bundle import partition_of
from services.detector.core.cases import CaseLinker
from services.detector.core.clock import to_ms
from services.detector.core.disposition_gate import DispositionGate, Position
from services.detector.core.policy import Policy
from services.detector.core.routing import SUBJECT_KINDS
from services.detector.core.state import Entity
from services.detector.core.watermark import LINKED_TOPICS, origin_of

if TYPE_CHECKING:
    from services.detector.progress import Report


class Stored(NamedTuple):
    """A disposition as the table holds it: where it was read in `dispositions` and when it
    was written there, whether it was placed without its alert (`disposition_gate`), and
    its value as read."""

    partition: int
    offset: int
    written: int
    placed: bool
    value: bytes

    def encode(self) -> bytes:
        """`<partition>:<offset>:<written>:<placed 0|1>:<value>`."""
        return b"%d:%d:%d:%d:%s" % (
            self.partition,
            self.offset,
            self.written,
            self.placed,
            self.value,
        )

    @classmethod
    def decode(cls, stored: bytes) -> "Stored":
        partition, offset, written, placed, value = stored.split(b":", 4)
        return cls(int(partition), int(offset), int(written), placed == b"1", value)

    def origin(self) -> str:
        """The `dispositions` partition it was read from, as an origin (`ordering`)."""
        return origin_of("dispositions", self.partition)

    def position(self, disposition: Disposition) -> Position:
        """Its place in a subject partition's order."""
        return Position(to_ms(disposition.decided_at), self.written, self.offset)


def disposition_key(disposition: Disposition) -> bytes:
    """The table key of a disposition: `<alert id>/<institution>` (an alert's is its id)."""
    return token(disposition).encode()


def token(disposition: Disposition) -> str:
    """A disposition as the gate knows it: `<alert id>/<institution>`."""
    return f"{disposition.alert_id}/{disposition.institution}"


class CaseLinks:
    """The linker of the worker holding the `case-alerts` partition, restored on first use
    after each assignment."""

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
        self.relayed: Report | None = None
        """The progress report last relayed to the subject partitions (`linking`)."""

    def linker(self) -> CaseLinker:
        """The linker, restored from the table if the partition was (re)assigned since."""
        if self._linker is None:
            self._restore()
        assert self._linker is not None
        return self._linker

    def gate(self) -> DispositionGate:
        """Where what dispositions do goes in subjects' order, restored with the linker."""
        if self._gate is None:
            self._restore()
        assert self._gate is not None
        return self._gate

    def _restore(self) -> None:
        alerts, dispositions, kept = [], [], []
        for key, value in self.table.items():
            if b"/" in key:
                stored = Stored.decode(value)
                disposition = Disposition.model_validate_json(stored.value)
                dispositions.append(disposition)
                kept.append((disposition, stored))
            else:
                alerts.append(Alert.model_validate_json(value))
        linker = CaseLinker.of(self.policy, self.lane)
        linker.placing = True
        linker.restore(alerts)
        placed = {token(d) for d, stored in kept if stored.placed}
        linker.restore_dispositions(dispositions, lambda d: token(d) in placed)
        gate = DispositionGate(self.lanes())
        gate.restore(
            (stored.origin(), token(d), stored.position(d))
            for d, stored in kept
            if (d.alert_id, d.institution) in linker.unplaced
        )
        self._linker, self._gate = linker, gate

    def lanes(self) -> frozenset[tuple[SubjectKind, int]]:
        """Every partition of the subject topics that what dispositions do reaches."""
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
        """A disposition held is placed without its alert (`disposition_gate`): what it
        derives will never be sent, also by a linker restored from the table. Returned if
        its alert is not coming: the alerts linked reach the grace past it already."""
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
        self.relayed = None
