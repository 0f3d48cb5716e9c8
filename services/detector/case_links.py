"""The case linker of the worker holding the `case-alerts` partition, and its table.

The table holds every alert linked, by alert id, and every disposition taken or held, by
alert id and institution (`disposition_key`), with where it was read in `dispositions`: the
linker's state and, through Faust, its changelog. A linker is restored from the table on
first use after each assignment of the partition (`linking` describes the order of work).
"""

from typing import Any, NamedTuple

from schemas.alerts import Alert
from schemas.dispositions import Disposition
from services.detector.bundle import partition_of
from services.detector.core.cases import CaseLinker
from services.detector.core.policy import Policy
from services.detector.core.state import Entity


class Stored(NamedTuple):
    """A disposition as the table holds it: where it was read in `dispositions`, and its
    value as read."""

    partition: int
    offset: int
    value: bytes

    def encode(self) -> bytes:
        """`<partition>:<offset>:<value>`."""
        return b"%d:%d:%s" % (self.partition, self.offset, self.value)

    @classmethod
    def decode(cls, stored: bytes) -> "Stored":
        partition, offset, value = stored.split(b":", 2)
        return cls(int(partition), int(offset), value)


def disposition_key(disposition: Disposition) -> bytes:
    """The table key of a disposition: `<alert id>/<institution>` (an alert's is its id)."""
    return f"{disposition.alert_id}/{disposition.institution}".encode()


class CaseLinks:
    """The linker of the worker holding the `case-alerts` partition, restored on first use
    after each assignment."""

    __slots__ = ("_linker", "partitions", "policy", "table")

    def __init__(self, table: Any, policy: Policy, partitions: int) -> None:
        self.table = table
        """Every alert linked and disposition taken or held: the linker's state, and its
        changelog."""
        self.policy = policy
        self.partitions = partitions
        """How many partitions each subject topic has: an alert's lane is its subject's."""
        self._linker: CaseLinker | None = None

    def linker(self) -> CaseLinker:
        """The linker, restored from the table if the partition was (re)assigned since."""
        if self._linker is None:
            alerts, dispositions = [], []
            for key, value in self.table.items():
                if b"/" in key:
                    stored = Stored.decode(value)
                    dispositions.append(Disposition.model_validate_json(stored.value))
                else:
                    alerts.append(Alert.model_validate_json(value))
            linker = CaseLinker.of(self.policy, self.lane)
            linker.restore(alerts)
            linker.restore_dispositions(dispositions)
            self._linker = linker
        return self._linker

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

    def drop(self, disposition: Disposition) -> None:
        """Forget a disposition held (rejected: its alert is not coming)."""
        del self.table[disposition_key(disposition)]

    def forget(self) -> None:
        """The partition was revoked: restore afresh if it comes back (another worker may
        have linked alerts meanwhile)."""
        self._linker = None
