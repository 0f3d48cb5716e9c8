"""The case linker of the worker holding the `case-alerts` partition, and its table.

The table holds every alert linked, by alert id: the linker's state and, through Faust,
its changelog. A linker is restored from the table on first use after each assignment of
the partition (`linking` describes the order of work).
"""

from collections.abc import Iterable
from typing import Any

from schemas.alerts import Alert
from services.detector.core.cases import CaseLinker


class CaseLinks:
    """The linker of the worker holding the `case-alerts` partition, restored on first use
    after each assignment."""

    __slots__ = ("_linker", "horizon", "table")

    def __init__(self, table: Any, horizon: int) -> None:
        self.table = table
        """Every alert linked, by alert id: the linker's state, and its changelog."""
        self.horizon = horizon
        self._linker: CaseLinker | None = None

    def linker(self) -> CaseLinker:
        """The linker, restored from the table if the partition was (re)assigned since."""
        if self._linker is None:
            linker = CaseLinker(self.horizon)
            linker.restore(_stored(self.table.values()))
            self._linker = linker
        return self._linker

    def forget(self) -> None:
        """The partition was revoked: restore afresh if it comes back (another worker may
        have linked alerts meanwhile)."""
        self._linker = None


def _stored(values: Iterable[bytes]) -> Iterable[Alert]:
    return (Alert.model_validate_json(value) for value in values)
