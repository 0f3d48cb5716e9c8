"""Per-identity state and its compact, versioned encoding.

State holds only what the rules need: the activations inside the longest window plus the
allowed lateness, the identity's watchlisting, when each rule last fired (for suppression)
and the ids of its recent alerts. It is encoded as plain JSON arrays (not pickle), so that a
changelog record is small, readable and safe to decode.
"""

import bisect
from dataclasses import dataclass, field
from typing import Any, NamedTuple

STATE_VERSION = 1
MAX_RECENT_ALERTS = 20


class Activation(NamedTuple):
    """One SIM activation counted in the identity's windows."""

    at: int
    event_id: str
    source: str
    msisdn: str


class Listing(NamedTuple):
    """The identity's watchlisting: barred from new services from `listed_at`."""

    listed_at: int
    expires_at: int | None
    source: str
    reason: str

    def covers(self, at: int) -> bool:
        """Whether the listing is in force at event time `at`."""
        return self.listed_at <= at and (self.expires_at is None or at < self.expires_at)


def _event_time(activation: Activation) -> int:
    return activation.at


class RecentAlert(NamedTuple):
    """An alert raised for the identity, kept for the query API."""

    alert_id: str
    rule: str
    at: int


@dataclass(slots=True)
class IdentityState:
    """Everything duanka remembers about one identity."""

    newest: int | None = None
    """The newest event time seen for the identity (ms): lateness is measured against it."""
    activations: list[Activation] = field(default_factory=list)
    """SIM activations ordered by event time."""
    listing: Listing | None = None
    suppressions: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per rule, the event-time interval [fired, until) in which it stays quiet."""
    recent_alerts: list[RecentAlert] = field(default_factory=list)

    def observe(self, at: int) -> int:
        """Advance the newest event time seen; returns it."""
        if self.newest is None or at > self.newest:
            self.newest = at
        return self.newest

    def has_activation(self, source: str, event_id: str) -> bool:
        """Whether this producer's event is already counted (a re-delivery)."""
        return any(a.event_id == event_id and a.source == source for a in self.activations)

    def add_activation(self, activation: Activation) -> None:
        """Insert keeping event-time order (events may arrive out of order)."""
        bisect.insort(self.activations, activation)

    def activations_within(self, start: int, end: int) -> list[Activation]:
        """Activations in the half-open event-time interval (start, end]."""
        lo = bisect.bisect_right(self.activations, start, key=_event_time)
        hi = bisect.bisect_right(self.activations, end, key=_event_time)
        return self.activations[lo:hi]

    def forget_before(self, horizon: int) -> None:
        """Drop what no window can reach any more: activations at or before `horizon` and
        suppressions that ended by then."""
        del self.activations[: bisect.bisect_right(self.activations, horizon, key=_event_time)]
        self.suppressions = {
            rule: span for rule, span in self.suppressions.items() if span[1] > horizon
        }

    def suppress(self, rule: str, fired: int, until: int) -> None:
        """Keep `rule` quiet for event times in [fired, until): one alert per burst."""
        self.suppressions[rule] = (fired, until)

    def suppressed(self, rule: str, at: int) -> bool:
        """Whether `rule` is quiet at event time `at`."""
        span = self.suppressions.get(rule)
        return span is not None and span[0] <= at < span[1]

    def remember_alert(self, alert_id: str, rule: str, at: int) -> None:
        """Keep the latest alerts, newest last, at most MAX_RECENT_ALERTS."""
        self.recent_alerts.append(RecentAlert(alert_id, rule, at))
        del self.recent_alerts[:-MAX_RECENT_ALERTS]

    def is_empty(self) -> bool:
        """True when nothing is worth keeping, so the key can be deleted."""
        return not self.activations and self.listing is None and not self.suppressions

    def to_json(self) -> list[Any]:
        """The compact encoding: `[version, newest, activations, listing, suppressions,
        alerts]`."""
        return [
            STATE_VERSION,
            self.newest,
            [list(a) for a in self.activations],
            None if self.listing is None else list(self.listing),
            {rule: list(span) for rule, span in self.suppressions.items()},
            [list(a) for a in self.recent_alerts],
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> "IdentityState":
        """Decode `to_json`'s output; raises ValueError for an unknown version."""
        version, newest, activations, listing, suppressions, alerts = data
        if version != STATE_VERSION:
            raise ValueError(f"identity state version {version} is not supported")
        return cls(
            newest=newest,
            activations=[Activation(*a) for a in activations],
            listing=None if listing is None else Listing(*listing),
            suppressions={rule: (span[0], span[1]) for rule, span in suppressions.items()},
            recent_alerts=[RecentAlert(*a) for a in alerts],
        )
