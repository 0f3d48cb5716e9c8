"""What every subject counted, for the simulation's check that nothing read is lost.

Comparing alerts with replay's misses a lost event that happens to change no alert; the
loss that once silenced every mule alert of a few accounts (a recovering worker's seek past
records it had dropped, docs/history.md) would have shown here first as events a subject
never counted. So replay applies events through a `Ledger` (the simulated workers note the
same from the native engine's verdicts), and a seed passes only if the workers' subjects
counted exactly the events replay's did, and found the same ones late.
"""

from datetime import datetime

from duanka.detector.core.engine import Address, Engine, Outcome, delivery_key
from duanka.detector.core.intake import Admitted
from duanka.detector.core.policy import Policy
from duanka.detector.core.state import SubjectState

Entry = tuple[str, str, str]
"""(subject kind, subject id, the event's delivery key)."""


class Ledger(Engine):
    """An engine that notes which events each subject counted and which it found late. A
    duplicate notes nothing: it was noted when first applied (a worker applies an event
    again after a crash, and counts it again if its state had not landed: the same entry)."""

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        self.counted: set[Entry] = set()
        self.late: set[Entry] = set()

    def apply(
        self,
        address: Address,
        state: SubjectState | None,
        event: Admitted,
        now: datetime,
        *,
        origin: str | None = None,
        offset: int | None = None,
        watermark: int | None = None,
    ) -> Outcome:
        outcome = super().apply(
            address, state, event, now, origin=origin, offset=offset, watermark=watermark
        )
        if not outcome.duplicate:
            entry = (address.kind, address.id, delivery_key(event))
            (self.late if outcome.late else self.counted).add(entry)
        return outcome
