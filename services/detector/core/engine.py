"""The detection engine: (state, event) -> (new state, alerts, derived messages).

The engine owns the order of work for an event: idempotency, lateness, updating the windows,
then the rules, then what firing implies (suppression, self-listing). Rules only decide.
"""

from dataclasses import dataclass, field
from datetime import datetime

from schemas.alerts import Alert
from schemas.events import SimActivation, WatchlistEntry
from services.detector.core.clock import duration_ms, from_ms, to_ms
from services.detector.core.policy import Policy
from services.detector.core.rules import bulk_sim_opener, watchlisted_identity
from services.detector.core.state import Activation, IdentityState, Listing


@dataclass(slots=True)
class Outcome:
    """What applying one event produced. `state` None means: delete the key."""

    state: IdentityState | None
    alerts: list[Alert] = field(default_factory=list)
    listings: list[WatchlistEntry] = field(default_factory=list)
    """Watchlist entries duanka publishes itself (to the `watchlist` topic)."""
    late: bool = False
    """The event was older than the allowed lateness: checked against the watchlist only."""
    duplicate: bool = False
    """The event was already counted (same source and event_id): nothing was done."""


class Engine:
    """Applies events to per-identity state under one validated policy."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._lateness = duration_ms(policy.allowed_lateness)
        self._ttl = duration_ms(policy.watchlist_ttl)
        self._retention = duration_ms(policy.bulk_sim_opener.window) + self._lateness
        """How far behind the newest event time state must reach back."""

    def apply_sim_activation(
        self, state: IdentityState | None, event: SimActivation, now: datetime
    ) -> Outcome:
        """Count a SIM activation and run the identity rules it can trigger."""
        state = state or IdentityState()
        at = to_ms(event.occurred_at)
        if state.has_activation(event.source, event.event_id):
            return Outcome(state, duplicate=True)

        late = state.newest is not None and at < state.newest - self._lateness
        alerts: list[Alert] = []
        listings: list[WatchlistEntry] = []
        watchlisted = watchlisted_identity.check(state, event, at, now)
        if watchlisted:
            alerts.append(watchlisted)
        if not late:
            newest = state.observe(at)
            state.add_activation(Activation(at, event.event_id, event.source, event.msisdn))
            bulk = bulk_sim_opener.check(state, event, at, self.policy.bulk_sim_opener, now)
            if bulk:
                alerts.append(bulk)
                listing = self._self_list(state, event.identity, at, bulk.rule)
                if listing:
                    listings.append(listing)
            state.forget_before(newest - self._retention)

        for alert in alerts:
            state.remember_alert(alert.alert_id, alert.rule, at)
        return Outcome(state, alerts, listings, late=late)

    def apply_watchlist(
        self, state: IdentityState | None, entry: WatchlistEntry | None
    ) -> IdentityState | None:
        """Set the identity's listing from a watchlist record; None (a tombstone) lifts it."""
        state = state or IdentityState()
        state.listing = None if entry is None else _listing_of(entry)
        return None if state.is_empty() else state

    def _self_list(
        self, state: IdentityState, identity: str, at: int, rule: str
    ) -> WatchlistEntry | None:
        """List the identity for `watchlist_ttl` from `at`, unless a listing in force already
        lasts at least as long (duanka never shortens an authority's listing)."""
        until = at + self._ttl
        current = state.listing
        if current and current.covers(at) and (current.expires_at or until + 1) >= until:
            return None
        entry = WatchlistEntry(
            identity=identity,
            reason=f"{rule} detected by duanka",
            listed_at=from_ms(at),
            expires_at=from_ms(until),
            source=self.policy.watchlist_source,
        )
        state.listing = _listing_of(entry)
        return entry


def _listing_of(entry: WatchlistEntry) -> Listing:
    return Listing(
        listed_at=to_ms(entry.listed_at),
        expires_at=None if entry.expires_at is None else to_ms(entry.expires_at),
        source=entry.source,
        reason=entry.reason,
    )
