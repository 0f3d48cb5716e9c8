"""Event-time horizons for forgetting subjects that went quiet.

A subject's records are trimmed whenever one of its own events arrives; a subject that never
returns would keep them for ever. Expiry is measured on event time, against the newest event
time seen on each input topic: once every topic that feeds a subject kind has moved on past
a subject's windows plus the allowed lateness, nothing that can still arrive in time would
count its records, and the subject is trimmed or deleted (`Engine.expire`).

Horizons are kept per topic because the topics may be read at different paces while a
backlog is consumed, and events of one topic read records made from another (an opening
checks the transfers it precedes): expiry follows the slowest topic of the kind.
"""

from schemas.alerts import SubjectKind
from schemas.events import AccountOpen, SimActivation, Transfer
from services.detector.core.clock import to_ms
from services.detector.core.intake import Admitted, InputTopic

FEEDING_TOPICS: dict[SubjectKind, tuple[InputTopic, ...]] = {
    "identity": ("sim-activations", "account-opens"),
    "account": ("account-opens", "transfers"),
    "device": ("sim-activations", "account-opens"),
    "msisdn": ("sim-activations", "account-opens"),
}
"""The topics whose events a subject kind records (watchlist records carry no event time)."""
TOPIC_OF: dict[type, InputTopic] = {
    SimActivation: "sim-activations",
    AccountOpen: "account-opens",
    Transfer: "transfers",
}


class Horizons:
    """Per input topic, the newest event time seen (epoch ms)."""

    __slots__ = ("_newest",)

    def __init__(self) -> None:
        self._newest: dict[str, int] = {}

    def observe(self, event: Admitted) -> None:
        """Advance the horizon of the event's topic to the event's time."""
        if not isinstance(event, SimActivation | AccountOpen | Transfer):
            return
        topic, at = TOPIC_OF[type(event)], to_ms(event.occurred_at)
        if at > self._newest.get(topic, at - 1):
            self._newest[topic] = at

    def clock(self, kind: SubjectKind) -> int | None:
        """The slowest horizon of the topics feeding `kind`; None until each has one."""
        try:
            return min(self._newest[topic] for topic in FEEDING_TOPICS[kind])
        except KeyError:
            return None
