"""The detection engine: (subject state, event) -> (new state, alerts, derived messages).

The engine owns the order of work for an event at one subject: idempotency, lateness,
recording, the subject's rules, then what firing implies (self-listing), then forgetting
what no window reaches any more. Rules only decide.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from duanka.detector.core.clock import duration_ms, from_ms, to_ms
from duanka.detector.core.history import History, Timed
from duanka.detector.core.intake import Admitted, Appeal, Confirmation, WatchlistUpdate
from duanka.detector.core.policy import Policy
from duanka.detector.core.routing import Address
from duanka.detector.core.rules import (
    borrowed_phone,
    bulk_account_opener,
    bulk_company_accounts,
    bulk_sim_opener,
    mule_fan_in,
    mule_fan_out,
    mule_pass_through,
    new_account_velocity,
    payment_to_flagged,
    shared_device,
    watchlisted_identity,
)
from duanka.detector.core.state import (
    AccountState,
    DeviceState,
    DeviceUse,
    IdentityState,
    Leg,
    Listing,
    MsisdnState,
    NumberActivation,
    NumberUse,
    Opening,
    OpenRecord,
    Sent,
    SimRecord,
    SubjectState,
)
from duanka.detector.core.watermark import topic_origin
from duanka.schemas.alerts import Alert, RuleName, SubjectKind
from duanka.schemas.codec import validate
from duanka.schemas.dispositions import Disposition
from duanka.schemas.events import AccountOpen, SimActivation, Transfer, WatchlistEntry

RULES: tuple[RuleName, ...] = (
    bulk_sim_opener.RULE,
    bulk_account_opener.RULE,
    bulk_company_accounts.RULE,
    shared_device.RULE,
    mule_pass_through.RULE,
    mule_fan_in.RULE,
    mule_fan_out.RULE,
    new_account_velocity.RULE,
    borrowed_phone.RULE,
    watchlisted_identity.RULE,
    payment_to_flagged.RULE,
)
"""The rules the engine runs: every rule of the contract's version 1, and
`payment_to_flagged`. Version 2's `layering_cycle`, `scatter_gather` and
`complicit_outlet` are named in the alert schema and not run yet."""
STATE_TYPES: dict[SubjectKind, type[SubjectState]] = {
    "identity": IdentityState,
    "account": AccountState,
    "device": DeviceState,
    "msisdn": MsisdnState,
}


@dataclass(slots=True)
class Outcome:
    """What applying one event to one subject produced. `state` None means: delete the key."""

    state: SubjectState | None
    alerts: list[Alert] = field(default_factory=list)
    listings: list[WatchlistEntry] = field(default_factory=list)
    """Watchlist entries duanka publishes itself (to the `watchlist` topic)."""
    lifts: list[str] = field(default_factory=list)
    """Identities whose listing duanka lifts itself (a tombstone on `watchlist`)."""
    late: bool = False
    """The event was older than the allowed lateness: not counted (the watchlist is still
    checked)."""
    duplicate: bool = False
    """The event had been applied already (same source and event_id; for the watchlist,
    the listing in force): nothing was counted again. `alerts` and `listings` are then
    what it made the subject publish the first time, for a worker to send again (the first
    sends may have been lost in a crash); replay, which cannot have lost them, skips them."""


class _Horizons(NamedTuple):
    """What is forgotten at one watermark of one kind: per history, records at or before
    its horizon; suppressions and listings ended by `settled`; what events sent, at or
    before `sent`."""

    watermark: int
    histories: tuple[tuple[str, int], ...]
    settled: int
    sent: int


class Read(NamedTuple):
    """Where an event was read: its input partition (`watermark.origin_of`) and offset
    there (None: not known)."""

    origin: str
    offset: int | None


class Engine:
    """Applies events to subject state under one validated policy."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        p = policy
        self._lateness = duration_ms(p.allowed_lateness)
        self._ttl = duration_ms(p.watchlist_ttl)
        self._flag_ttl = duration_ms(p.payment_to_flagged.flag_ttl)
        windows: dict[tuple[SubjectKind, str], timedelta] = {
            ("identity", "sim"): p.bulk_sim_opener.window,
            ("identity", "open"): max(p.bulk_account_opener.window, p.bulk_company_accounts.window),
            ("device", "sim"): p.shared_device.window,
            ("device", "open"): p.shared_device.window,
            ("msisdn", "sim"): p.borrowed_phone.lookback,
            ("msisdn", "open"): p.borrowed_phone.lookback,
            ("account", "out"): max(p.mule_pass_through.window, p.mule_fan_out.window),
            ("account", "in"): max(
                p.mule_pass_through.window, p.mule_fan_in.window, p.new_account_velocity.window
            ),
        }
        retention = {slot: duration_ms(window) + self._lateness for slot, window in windows.items()}
        self._kept: dict[SubjectKind, dict[str, int]] = {
            kind: {
                history: max(retention[(kind, s)] for s in state_type.READERS[stream])
                for stream, history in state_type.STREAM_HISTORIES.items()
            }
            for kind, state_type in STATE_TYPES.items()
        }
        """Per kind and history, how far behind the watermark its records are kept: the
        longest window, plus the lateness, of the streams reading them."""
        self._sent_kept = {kind: max(kept.values()) for kind, kept in self._kept.items()}
        """Per kind, how far behind the watermark what events sent is kept: as long as any
        of the subject's records, so as long as a re-delivery is recognised."""
        self._horizons: dict[SubjectKind, _Horizons] = {}
        """Per kind, what `_settle` forgets before at the watermark it last saw."""
        self._appliers: dict[tuple[SubjectKind, str], Callable[..., Outcome]] = {
            ("identity", "sim"): self._identity_sim,
            ("identity", "open"): self._identity_open,
            ("identity", "listing"): self._identity_listing,
            ("identity", "appeal"): self._identity_appeal,
            ("device", "sim"): self._device_use,
            ("device", "open"): self._device_use,
            ("msisdn", "sim"): self._msisdn_activation,
            ("msisdn", "open"): self._msisdn_use,
            ("account", "open"): self._account_open,
            ("account", "out"): self._account_leg,
            ("account", "in"): self._account_leg,
            ("account", "flag"): self._account_confirmation,
        }

    def retention(self, kind: SubjectKind) -> int:
        """How far behind the watermark (ms) anything a subject of `kind` records is kept."""
        return self._sent_kept[kind]

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
        """Apply `event` to the subject at `address`, whose current state is `state`.

        `origin` is the input partition the event was read from (`watermark.origin_of`;
        None: its topic's only partition, as in replay); lateness is measured per origin.
        `offset` is where it was read there (None: not known); a watchlist record, which has
        no id, is known as delivered again by it. `watermark` is how far the subject's input
        has surely come (`Watermark.value`); what no event still in time could count is
        forgotten against it (None: nothing is)."""
        applier = self._appliers[(address.kind, address.stream)]
        fresh = state if state is not None else STATE_TYPES[address.kind]()
        read = Read(origin if origin is not None else topic_origin(event), offset)
        outcome = applier(fresh, address, event, now, read)
        state_after = outcome.state
        if state_after is None:
            return outcome
        if outcome.duplicate:
            _resend(outcome, state_after.sent.get(delivery_key(event)))
        else:
            for alert in outcome.alerts:
                state_after.remember_alert(alert.alert_id, alert.rule, to_ms(alert.window.end))
            if (outcome.alerts or outcome.listings) and not outcome.late:
                state_after.sent[delivery_key(event)] = _sent(event, outcome)
            self._settle(address.kind, state_after, watermark)
        if state_after.is_empty():
            outcome.state = None
        return outcome

    # -- recording ------------------------------------------------------------------------

    def _record(
        self, state: SubjectState, stream: str, record: Timed, read: Read
    ) -> Outcome | None:
        """Record one event in its stream's history; an Outcome when it is a duplicate or
        late."""
        history = state.history(stream)
        if history.has(record.source, record.event_id):
            return Outcome(state, duplicate=True)
        if state.is_late(read.origin, record.at, self._lateness):
            return Outcome(state, late=True)
        state.observe(read.origin, record.at)
        history.add(record)
        return None

    # -- expiry ---------------------------------------------------------------------------

    def expire(
        self, kind: SubjectKind, state: SubjectState, watermark: int | None
    ) -> SubjectState | None:
        """Forget, in place, what no event still in time could count once the subject's
        input has reached `watermark` (None: not known yet, nothing is forgotten), as the
        subject's own events do. Returns None when nothing is left, so the key can be
        deleted: this is how a subject that went quiet stops costing anything."""
        self._settle(kind, state, watermark)
        return None if state.is_empty() else state

    def _settle(self, kind: SubjectKind, state: SubjectState, watermark: int | None) -> None:
        """Drop, in place, the records no window of an event at or after `watermark` minus
        the lateness can reach, the suppressions and listings that ended before it, openings
        too old to matter and flags no payment in time can reach. Runs after every event, so
        it checks before it works."""
        if watermark is None:
            return
        horizons = self._horizons.get(kind)
        if horizons is None or horizons.watermark != watermark:
            horizons = self._horizons[kind] = self._horizons_at(kind, watermark)
        for name, horizon in horizons.histories:
            history: History[Any] = getattr(state, name)
            if history.records and history.records[0].at <= horizon:
                history.forget_before(horizon)
        settled = horizons.settled
        if state.suppressions:
            state.forget_suppressions_before(settled)
        if state.sent:
            state.forget_sent_before(horizons.sent)
        if isinstance(state, IdentityState):
            if state.listing is not None or state.lifted:
                state.forget_listing_ended_by(settled)
        elif isinstance(state, AccountState):
            self._forget_opening(state, settled)
            if state.flags:
                state.forget_flags_before(settled - self._flag_ttl)

    def _horizons_at(self, kind: SubjectKind, watermark: int) -> _Horizons:
        return _Horizons(
            watermark,
            tuple((history, watermark - kept) for history, kept in self._kept[kind].items()),
            watermark - self._lateness,
            watermark - self._sent_kept[kind],
        )

    # -- identity -------------------------------------------------------------------------

    def _identity_sim(
        self,
        state: IdentityState,
        address: Address,
        event: SimActivation,
        now: datetime,
        read: Read,
    ) -> Outcome:
        record = SimRecord(
            to_ms(event.occurred_at),
            event.event_id,
            event.source,
            event.msisdn,
            event.device,
            event.outlet,
        )
        return self._identity_event(
            state,
            address,
            record,
            read,
            lambda: [
                bulk_sim_opener.check(state, record, address.id, self.policy.bulk_sim_opener, now)
            ],
            now,
        )

    def _identity_open(
        self, state: IdentityState, address: Address, event: AccountOpen, now: datetime, read: Read
    ) -> Outcome:
        record = OpenRecord(
            to_ms(event.occurred_at),
            event.event_id,
            event.source,
            event.account,
            event.account_kind,
            event.company,
            event.msisdn,
            event.device,
        )
        return self._identity_event(
            state,
            address,
            record,
            read,
            lambda: [
                bulk_account_opener.check(
                    state, record, address.id, self.policy.bulk_account_opener, now
                ),
                bulk_company_accounts.check(
                    state, record, address.id, self.policy.bulk_company_accounts, now
                ),
            ],
            now,
        )

    def _identity_event(
        self,
        state: IdentityState,
        address: Address,
        record: SimRecord | OpenRecord,
        read: Read,
        burst_rules: Callable[[], list[Alert | None]],
        now: datetime,
    ) -> Outcome:
        skipped = self._record(state, address.stream, record, read)
        if skipped and skipped.duplicate:
            return skipped
        watchlisted = watchlisted_identity.check(state.listing, record, address.id, now)
        alerts = [watchlisted] if watchlisted else []
        if skipped:  # late: not counted, but still checked against the watchlist
            skipped.alerts = alerts
            return skipped
        listings = []
        for alert in filter(None, burst_rules()):
            alerts.append(alert)
            entry = self._self_listing(state, address.id, to_ms(alert.window.end), alert.rule)
            if entry:
                listings.append(entry)
                alerts += self._list(
                    state, address.id, _listing_of(entry), now, alert.trigger_event_id
                )
        return Outcome(state, alerts, listings)

    def _identity_listing(
        self,
        state: IdentityState,
        address: Address,
        event: WatchlistUpdate,
        now: datetime,
        read: Read,
    ) -> Outcome:
        """Set or lift the listing from a watchlist record (None: a tombstone). A listing
        in force, or one lifted before, is not set again: the record was delivered again.
        Nor is duanka's own: the identity's state set it when it made it, and it comes
        back through `watchlist` when the worker has read that far, which may be after a
        later event of the identity replaced it; set again, it would alert what it covers
        a second time, as replay, which takes it back at once, does not. A record read at an
        offset of its watchlist partition that the identity has already had a record from
        is delivered again too (read again after a crash): a tombstone lifting, or an
        authority's listing replacing, what came after it would undo what came after it."""
        if state.read_again(read.origin, read.offset):
            return Outcome(state, duplicate=True)
        if event.entry is None:
            if event.lifted_own or state.listing is None:
                return Outcome(state, duplicate=True)
            state.lift()
            return Outcome(state)
        listing = _listing_of(event.entry)
        own = listing.source == self.policy.watchlist_source
        if own or listing == state.listing or listing in state.lifted:
            return Outcome(state, duplicate=True)
        return Outcome(state, self._list(state, address.id, listing, now))

    def _list(
        self,
        state: IdentityState,
        identity: str,
        listing: Listing,
        now: datetime,
        trigger_event_id: str | None = None,
    ) -> list[Alert]:
        """Replace the identity's listing. Activations and openings already recorded that the
        new listing covers are alerted now, except the event that caused a self-listing and
        those already alerted: a listing that arrives after them, because it was published
        late or its topic was read later, still catches them. An authority's listing was
        checked as each event arrived, so what it covered is not alerted again; duanka's own
        listing may have been set by a later event of a burst than in-order processing would
        have, so what it covered is checked against the alerts already raised."""
        old, state.listing = state.listing, listing
        if listing == old:
            return []
        own = self.policy.watchlist_source
        if listing.source != own or old is None:
            state.replaced = None
        elif old.source != own:
            state.replaced = old
        raised = {a.alert_id for a in state.recent_alerts}
        checked_by_old = old is not None and old.source != own
        alerts = []
        for record in sorted([*state.sims, *state.opens]):
            if record.event_id == trigger_event_id:
                continue
            if checked_by_old and old is not None and old.covers(record.at):
                continue
            alert = watchlisted_identity.check(listing, record, identity, now)
            if alert and alert.alert_id not in raised:
                alerts.append(alert)
        return alerts

    def _identity_appeal(
        self, state: IdentityState, address: Address, event: Appeal, now: datetime, read: Read
    ) -> Outcome:
        """An institution found an alert about the identity a false positive. If duanka
        listed the identity for that alert, the listing is lifted: the identity gets back
        the authority's listing it had replaced, unless that had ended when the appeal was
        decided, else a tombstone goes on `watchlist`. An appeal delivered again publishes
        the identity's listing as it now stands once more; one of another alert changes
        nothing."""
        made = (to_ms(event.listed_at), self.policy.watchlist_source, _own_reason(event.rule))

        def by_it(listing: Listing) -> bool:
            return (listing.listed_at, listing.source, listing.reason) == made

        if state.listing is not None and by_it(state.listing):
            back = state.replaced
            state.lift()
            decided = to_ms(event.decided_at)
            if back is not None and (back.expires_at is None or back.expires_at > decided):
                state.listing = back
        elif not any(by_it(listing) for listing in state.lifted):
            return Outcome(state)
        if state.listing is None:
            return Outcome(state, lifts=[address.id])
        return Outcome(state, listings=[_entry_of(address.id, state.listing)])

    def _self_listing(
        self, state: IdentityState, identity: str, at: int, rule: str
    ) -> WatchlistEntry | None:
        """The entry listing the identity for `watchlist_ttl` from `at`, unless a listing in
        force already lasts at least as long (duanka never shortens an authority's listing)."""
        until = at + self._ttl
        current = state.listing
        if current and current.covers(at) and (current.expires_at or until + 1) >= until:
            return None
        return WatchlistEntry(
            identity=identity,
            reason=_own_reason(rule),
            listed_at=from_ms(at),
            expires_at=from_ms(until),
            source=self.policy.watchlist_source,
        )

    # -- device ---------------------------------------------------------------------------

    def _device_use(
        self,
        state: DeviceState,
        address: Address,
        event: SimActivation | AccountOpen,
        now: datetime,
        read: Read,
    ) -> Outcome:
        at, event_id, source = to_ms(event.occurred_at), event.event_id, event.source
        if isinstance(event, SimActivation):
            record = DeviceUse(
                at, event_id, source, event.identity, event.msisdn, source, outlet=event.outlet
            )
        else:
            record = DeviceUse(
                at,
                event_id,
                source,
                event.identity,
                event.msisdn,
                None,
                account=event.account,
                company=event.company,
            )
        skipped = self._record(state, address.stream, record, read)
        if skipped:
            return skipped
        alert = shared_device.check(state, record, address.id, self.policy.shared_device, now)
        return Outcome(state, [alert] if alert else [])

    # -- msisdn ---------------------------------------------------------------------------

    def _msisdn_activation(
        self, state: MsisdnState, address: Address, event: SimActivation, now: datetime, read: Read
    ) -> Outcome:
        record = NumberActivation(
            to_ms(event.occurred_at),
            event.event_id,
            event.source,
            event.identity,
            event.device,
            event.outlet,
        )
        skipped = self._record(state, address.stream, record, read)
        if skipped:
            return skipped
        alerts = borrowed_phone.on_activation(
            state, record, address.id, self.policy.borrowed_phone, now
        )
        return Outcome(state, alerts)

    def _msisdn_use(
        self, state: MsisdnState, address: Address, event: AccountOpen, now: datetime, read: Read
    ) -> Outcome:
        record = NumberUse(
            to_ms(event.occurred_at),
            event.event_id,
            event.source,
            event.identity,
            event.account,
            event.device,
            event.company,
        )
        skipped = self._record(state, address.stream, record, read)
        if skipped:
            return skipped
        alert = borrowed_phone.on_account_open(
            state, record, address.id, self.policy.borrowed_phone, now
        )
        return Outcome(state, [alert] if alert else [])

    # -- account --------------------------------------------------------------------------

    def _account_open(
        self, state: AccountState, address: Address, event: AccountOpen, now: datetime, read: Read
    ) -> Outcome:
        if state.opening is not None:
            return Outcome(state, duplicate=True)  # an account is opened once
        state.opening = Opening(
            to_ms(event.occurred_at),
            event.event_id,
            event.source,
            event.account_kind,
            event.identity,
        )
        alert = new_account_velocity.check(
            state, state.opening, address.id, self.policy.new_account_velocity, now
        )
        alerts = [alert] if alert else []
        return Outcome(state, alerts + self._warnings(state, address.id, None, alerts, now))

    def _account_leg(
        self, state: AccountState, address: Address, event: Transfer, now: datetime, read: Read
    ) -> Outcome:
        outgoing = address.stream == "out"
        record = Leg(
            to_ms(event.occurred_at),
            event.event_id,
            event.source,
            event.to_account if outgoing else event.from_account,
            event.amount_minor,
            event.currency == self.policy.currency,
            event.from_institution if outgoing else event.to_institution,
            event.to_institution if outgoing else event.from_institution,
        )
        incoming = None if outgoing else record
        skipped = self._record(state, address.stream, record, read)
        if skipped:
            if skipped.late:  # not counted, but a payment into a flagged account is warned
                skipped.alerts = self._warnings(state, address.id, incoming, [], now)
            return skipped
        p = self.policy
        found = [
            mule_pass_through.check(state, record, outgoing, address.id, p.mule_pass_through, now)
        ]
        if outgoing:
            found.append(mule_fan_out.check(state, record, address.id, p.mule_fan_out, now))
        else:
            found.append(mule_fan_in.check(state, record, address.id, p.mule_fan_in, now))
            found.append(
                new_account_velocity.check(state, record, address.id, p.new_account_velocity, now)
            )
        alerts = [a for a in found if a]
        return Outcome(state, alerts + self._warnings(state, address.id, incoming, alerts, now))

    def _warnings(
        self,
        state: AccountState,
        account: str,
        incoming: Leg | None,
        raised: list[Alert],
        now: datetime,
    ) -> list[Alert]:
        """`payment_to_flagged` after the account's own rules: what they raised flags the
        account, and payments into it that a flag reaches are warned."""
        fresh = payment_to_flagged.flags_raised(raised)
        return payment_to_flagged.check(
            state, incoming, fresh, account, self.policy.payment_to_flagged, now
        )

    def _account_confirmation(
        self, state: AccountState, address: Address, event: Confirmation, now: datetime, read: Read
    ) -> Outcome:
        """An institution confirmed an alert about the account: it is flagged from then, and
        the payments into it that the flag reaches are warned."""
        fresh = [payment_to_flagged.flag_confirmed(event)]
        policy = self.policy.payment_to_flagged
        return Outcome(state, payment_to_flagged.check(state, None, fresh, address.id, policy, now))

    def _forget_opening(self, state: AccountState, settled: int) -> None:
        """Keep a corporate opening for good (the fan-in/out exemption needs it); forget any
        other once no event at or after `settled` is young enough for
        `new_account_velocity`."""
        opening = state.opening
        if opening is None or opening.account_kind == "corporate":
            return
        age_limit = duration_ms(self.policy.new_account_velocity.max_account_age)
        if opening.at + age_limit < settled:
            state.opening = None


def delivery_key(event: Admitted) -> str:
    """Names an event the same way each time it is delivered: its source and id; a
    watchlist record by who listed the identity and when."""
    if isinstance(event, WatchlistUpdate):
        entry = event.entry
        if entry is None:
            return "watchlist"
        return f"watchlist/{entry.source}/{to_ms(entry.listed_at)}"
    if isinstance(event, Disposition | Confirmation | Appeal):
        return f"dispositions/{event.institution}/{event.alert_id}"
    return f"{event.source}/{event.event_id}"


def _sent(event: Admitted, outcome: Outcome) -> Sent:
    """What `event` made its subject publish, kept until the newest of its time and its
    alerts' windows falls behind the subject's records."""
    if isinstance(event, WatchlistUpdate):
        at = 0 if event.entry is None else to_ms(event.entry.listed_at)
    elif isinstance(event, Disposition | Confirmation | Appeal):
        at = to_ms(event.decided_at)
    else:
        at = to_ms(event.occurred_at)
    return Sent(
        max([at, *(to_ms(a.window.end) for a in outcome.alerts)]),
        [a.model_dump(mode="json") for a in outcome.alerts],
        [e.model_dump(mode="json") for e in outcome.listings],
    )


def _resend(outcome: Outcome, sent: Sent | None) -> None:
    """Fill a duplicate's outcome with what the event published the first time."""
    if sent is not None:
        outcome.alerts = [validate(Alert, a) for a in sent.alerts]
        outcome.listings = [validate(WatchlistEntry, e) for e in sent.listings]


def _own_reason(rule: str) -> str:
    """The reason duanka gives for listing an identity itself."""
    return f"{rule} detected by duanka"


def _entry_of(identity: str, listing: Listing) -> WatchlistEntry:
    """The watchlist entry of an identity's listing."""
    return WatchlistEntry(
        identity=identity,
        reason=listing.reason,
        listed_at=from_ms(listing.listed_at),
        expires_at=None if listing.expires_at is None else from_ms(listing.expires_at),
        source=listing.source,
    )


def _listing_of(entry: WatchlistEntry) -> Listing:
    return Listing(
        listed_at=to_ms(entry.listed_at),
        expires_at=None if entry.expires_at is None else to_ms(entry.expires_at),
        source=entry.source,
        reason=entry.reason,
    )
