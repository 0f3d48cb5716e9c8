"""What a disposition does to subjects, decided from the alert it names.

A confirmation of an alert about an account flags the account; a false positive found of
an alert about an identity (an appeal) lifts duanka's own listing of it. Both act on the
alert's own subject, and need only what the alert says of it: its subject, rule, window
end and holder. Replay's case linker holds every alert and derives them at the
disposition's line (`cases.CaseLinker.derived`). In the worker, the subject partition that
raised the alert keeps a `Raised` for it with its state, and derives them itself at the
disposition's place in its order (`subjects`): whether the alert was raised before that
place is then a fact of the partition's own order, as it is of replay's.
"""

from typing import Any, NamedTuple

from duanka.detector.core.clock import from_ms, to_ms
from duanka.detector.core.intake import Appeal, Confirmation
from duanka.detector.core.ordering import Key
from duanka.schemas.alerts import Alert, SubjectKind
from duanka.schemas.dispositions import Disposition

ACTS_ON: dict[str, SubjectKind] = {"confirmed": "account", "false_positive": "identity"}
"""The kind of subject a disposition of each outcome can act on, when its alert is about one;
`actioned` acts on none."""


class Raised(NamedTuple):
    """An alert about a subject a disposition can act on, as the partition that raised it
    keeps it: what a disposition derives from it, and where in the partition's order the
    item that raised it went (`place`; None in replay, whose linker decides by line)."""

    kind: SubjectKind
    subject: str
    rule: str
    at: int
    """The alert's window end (epoch ms)."""
    holder: str | None
    place: Key | None = None

    def to_json(self) -> list[Any]:
        place = None if self.place is None else list(self.place)
        return [self.kind, self.subject, self.rule, self.at, self.holder, place]

    @classmethod
    def from_json(cls, value: Any) -> "Raised":
        """A `Raised` as a partition stores it (with its place); raises ValueError if it is
        not one."""
        match value:
            case [
                "account" | "identity" as kind,
                str(subject),
                str(rule),
                int(at),
                str() | None as holder,
                [int(a), int(w), int(k), str(o), int(n)],
            ]:
                return cls(kind, subject, rule, at, holder, Key(a, w, k, o, n))
        raise ValueError(f"not an alert raised: {value!r:.200}")


def raised(alert: Alert, place: Key) -> Raised | None:
    """What a disposition of `alert`, raised by the item at `place` in its partition's
    order, needs of it; None if no disposition can act on its subject."""
    kind, subject = alert.subject.kind, alert.subject.id
    if kind != "account" and kind != "identity":
        return None
    at = to_ms(alert.window.end)
    return Raised(kind, subject, alert.rule, at, alert.evidence.holder, place)


def derive(alert: Raised, disposition: Disposition) -> list[Confirmation | Appeal]:
    """What a disposition of `alert`, taken, sends to the alert's subject: a confirmation of
    an alert about an account to the account, an appeal of one about an identity to the
    identity; nothing if its outcome does not act on that kind."""
    if ACTS_ON.get(disposition.outcome) != alert.kind:
        return []
    alert_id, institution = disposition.alert_id, disposition.institution
    decided_at = disposition.decided_at
    if alert.kind == "account":
        return [
            Confirmation(alert.subject, alert_id, alert.rule, institution, decided_at, alert.holder)
        ]
    listed_at = from_ms(alert.at)
    return [Appeal(alert.subject, alert_id, alert.rule, listed_at, institution, decided_at)]
