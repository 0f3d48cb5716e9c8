"""The case linker of the worker holding the `case-alerts` partition, and its table.

The table holds every alert linked, by alert id, and every disposition taken, by alert id
and institution (`disposition_key`): the linker's state and, through Faust, its changelog.
A linker is restored from the table on first use after each assignment of the partition
(`linking` describes the order of work).
"""

from typing import Any

from schemas.alerts import Alert
from schemas.dispositions import Disposition
from services.detector.core.cases import CaseLinker


def disposition_key(disposition: Disposition) -> bytes:
    """The table key of a disposition: `<alert id>/<institution>` (an alert's is its id)."""
    return f"{disposition.alert_id}/{disposition.institution}".encode()


class CaseLinks:
    """The linker of the worker holding the `case-alerts` partition, restored on first use
    after each assignment."""

    __slots__ = ("_linker", "horizon", "table")

    def __init__(self, table: Any, horizon: int) -> None:
        self.table = table
        """Every alert linked and disposition taken: the linker's state, and its changelog."""
        self.horizon = horizon
        self._linker: CaseLinker | None = None

    def linker(self) -> CaseLinker:
        """The linker, restored from the table if the partition was (re)assigned since."""
        if self._linker is None:
            alerts, dispositions = [], []
            for key, value in self.table.items():
                if b"/" in key:
                    dispositions.append(Disposition.model_validate_json(value))
                else:
                    alerts.append(Alert.model_validate_json(value))
            linker = CaseLinker(self.horizon)
            linker.restore(alerts)
            linker.restore_dispositions(dispositions)
            self._linker = linker
        return self._linker

    def forget(self) -> None:
        """The partition was revoked: restore afresh if it comes back (another worker may
        have linked alerts meanwhile)."""
        self._linker = None
