"""Per-subject state and its compact, versioned encoding.

Each subject (identity, device, account, phone number) keeps only what its rules need: the
records inside its longest window plus the allowed lateness, the newest event time from
each input partition that fed it (for lateness), when each rule last fired (for
suppression), its recent alerts (for the query API) and what recent events made it publish
(to publish it again when such an event is delivered again). State is encoded as plain JSON
arrays, not pickle, so that a changelog record is small, readable and safe to decode.
"""

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Self

from duanka.detector.core.history import History
from duanka.schemas.alerts import EntityKind

STATE_VERSION = 8
MAX_RECENT_ALERTS = 20
MAX_LIFTED = 8
"""The most lifted listings an identity remembers (`IdentityState.lifted`)."""


class RecentAlert(NamedTuple):
    """An alert raised for the subject, kept for the query API."""

    alert_id: str
    rule: str
    at: int


class Sent(NamedTuple):
    """What one event made a subject publish, as wire JSON: its alerts and duanka's own
    watchlist entries. `at` is the event's time (when it is forgotten)."""

    at: int
    alerts: list[dict[str, Any]]
    listings: list[dict[str, Any]]


Entity = tuple[EntityKind, str]
"""An identity, number, account, device, outlet or company an event names."""


def _named(*entities: tuple[EntityKind, str | None]) -> Iterator[Entity]:
    return ((kind, id) for kind, id in entities if id is not None)


class SimRecord(NamedTuple):
    """A SIM activation by an identity. Records end with the entities their event names
    besides the subject (None when it named none; records of state version 5 and before
    kept none of them)."""

    at: int
    event_id: str
    source: str
    msisdn: str
    device: str | None = None
    outlet: str | None = None

    def entities(self) -> Iterator[Entity]:
        """What the event names besides the identity."""
        return _named(("msisdn", self.msisdn), ("device", self.device), ("outlet", self.outlet))


class OpenRecord(NamedTuple):
    """An account opened by an identity."""

    at: int
    event_id: str
    source: str
    account: str
    account_kind: str
    company: str | None
    msisdn: str | None = None
    device: str | None = None

    def entities(self) -> Iterator[Entity]:
        """What the event names besides the identity."""
        return _named(
            ("account", self.account),
            ("company", self.company),
            ("msisdn", self.msisdn),
            ("device", self.device),
        )


class DeviceUse(NamedTuple):
    """An identity activating a SIM or opening an account on a device. `carrier` is the
    activating carrier (None for an account opening, whose number's carrier is unknown).
    An activation names its outlet; an opening its account and company."""

    at: int
    event_id: str
    source: str
    identity: str
    msisdn: str | None
    carrier: str | None
    account: str | None = None
    outlet: str | None = None
    company: str | None = None

    def entities(self) -> Iterator[Entity]:
        """What the event names besides the device."""
        return _named(
            ("identity", self.identity),
            ("msisdn", self.msisdn),
            ("account", self.account),
            ("outlet", self.outlet),
            ("company", self.company),
        )


class NumberActivation(NamedTuple):
    """A phone number activated for an identity."""

    at: int
    event_id: str
    source: str
    identity: str
    device: str | None = None
    outlet: str | None = None

    def entities(self) -> Iterator[Entity]:
        """What the event names besides the number."""
        return _named(("identity", self.identity), ("device", self.device), ("outlet", self.outlet))


class NumberUse(NamedTuple):
    """An account opened with a phone number."""

    at: int
    event_id: str
    source: str
    identity: str
    account: str
    device: str | None = None
    company: str | None = None

    def entities(self) -> Iterator[Entity]:
        """What the event names besides the number."""
        return _named(
            ("identity", self.identity),
            ("account", self.account),
            ("device", self.device),
            ("company", self.company),
        )


class Leg(NamedTuple):
    """One side of a transfer, seen from the account. `counted` is whether the amount is in
    the policy's currency (only those count in money sums); `institution` holds the account."""

    at: int
    event_id: str
    source: str
    counterparty: str
    amount_minor: int
    counted: bool
    institution: str
    counterparty_institution: str | None = None
    """The institution holding the counterparty (None in state version 5 and before)."""

    def entities(self) -> Iterator[Entity]:
        """None besides the account: the counterparty may be a victim's account."""
        return iter(())


class Opening(NamedTuple):
    """How and when an account was opened, and by whom (None in state version 5 and
    before)."""

    at: int
    event_id: str
    source: str
    account_kind: str
    holder: str | None = None


class Flag(NamedTuple):
    """A mule rule's alert on an account: payments into it from `at`, its window's end,
    are warned for the policy's `flag_ttl` (`payment_to_flagged`)."""

    at: int
    alert_id: str
    rule: str
    holder: str | None = None
    """The account's holder as the flagging alert named it: what its warnings name, whenever
    they are made (the account's own record of its opening may be forgotten by then)."""


def _flag_order(flag: Flag) -> tuple[int, str, str, str]:
    return flag.at, flag.alert_id, flag.rule, flag.holder or ""


class Listing(NamedTuple):
    """An identity's watchlisting: barred from new services from `listed_at`."""

    listed_at: int
    expires_at: int | None
    source: str
    reason: str

    def covers(self, at: int) -> bool:
        """Whether the listing is in force at event time `at`."""
        return self.listed_at <= at and (self.expires_at is None or at < self.expires_at)


@dataclass(slots=True)
class SubjectState:
    """What every subject keeps besides its own records."""

    KIND: ClassVar[str] = ""
    STREAM_HISTORIES: ClassVar[dict[str, str]] = {}
    """Per stream of the subject, the attribute holding its records."""
    READERS: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Per stream, the streams whose events read the records it makes: they are kept for
    the longest reach of those."""

    newest: dict[str, int] = field(default_factory=dict)
    """Per origin (input topic partition, `watermark.origin_of`), the newest event time seen
    from it (ms). Lateness is measured against it: each partition delivers in its own
    order, but while a backlog is consumed partitions are read days apart, and one running
    ahead must not make the others late."""
    suppressions: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per rule, the event-time interval [fired, until) in which it stays quiet."""
    recent_alerts: list[RecentAlert] = field(default_factory=list)
    sent: dict[str, Sent] = field(default_factory=dict)
    """Per event (`engine.delivery_key`), what it made the subject publish. The state is
    stored before those sends are acknowledged, so after a crash between the two the event
    is delivered again, finds itself already applied, and its outputs are sent again from
    here: nothing is lost, and a repeat has the same alert id. Kept as long as the event's
    own records."""

    def is_late(self, origin: str, at: int, lateness: int) -> bool:
        """Whether `at` is further behind the origin's newest event time than allowed."""
        newest = self.newest.get(origin)
        return newest is not None and at < newest - lateness

    def observe(self, origin: str, at: int) -> None:
        """Advance the origin's newest event time."""
        if at > self.newest.get(origin, at - 1):
            self.newest[origin] = at

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

    def forget_sent_before(self, horizon: int) -> None:
        """Drop what events at or before `horizon` sent, as records are dropped."""
        if any(sent.at <= horizon for sent in self.sent.values()):
            self.sent = {key: sent for key, sent in self.sent.items() if sent.at > horizon}

    def forget_suppressions_before(self, horizon: int) -> None:
        """Drop suppressions that ended at or before `horizon`."""
        if any(span[1] <= horizon for span in self.suppressions.values()):
            self.suppressions = {r: s for r, s in self.suppressions.items() if s[1] > horizon}

    def histories(self) -> tuple[History[Any], ...]:
        """The subject's record histories."""
        return ()

    def history(self, stream: str) -> History[Any]:
        """The history a stream's events are recorded in."""
        history: History[Any] = getattr(self, self.STREAM_HISTORIES[stream])
        return history

    def is_empty(self) -> bool:
        """True when nothing is worth keeping, so the key can be deleted."""
        return not self.suppressions and not any(self.histories())

    def to_json(self) -> list[Any]:
        """`[version, kind, newest, suppressions, recent alerts, sent, *own fields]`."""
        return [
            STATE_VERSION,
            self.KIND,
            self.newest,
            {rule: list(span) for rule, span in self.suppressions.items()},
            [list(a) for a in self.recent_alerts],
            {key: list(sent) for key, sent in self.sent.items()},
            *self._own_json(),
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> Self:
        """Decode `to_json`'s output; raises ValueError for another version or kind."""
        if data and data[0] == 1 and cls.KIND == "identity":
            data = _identity_v1_to_v2(data)
        if data and data[0] == 2:
            data = _v2_to_v3(data)
        if data and data[0] == 3:
            data = _v3_to_v4(data)
        if data and data[0] == 4:
            data = _v4_to_v5(data)
        if data and data[0] == 5:
            data = _v5_to_v6(data)
        if data and data[0] == 6:
            data = _v6_to_v7(data)
        if data and data[0] == 7:
            data = _v7_to_v8(data)
        version, kind, newest, suppressions, alerts, sent, *own = data
        if version != STATE_VERSION:
            raise ValueError(f"state version {version} is not supported")
        if kind != cls.KIND:
            raise ValueError(f"state of a {kind}, not of a {cls.KIND}")
        state = cls._from_own_json(own)
        state.newest = dict(newest)
        state.suppressions = {rule: (s[0], s[1]) for rule, s in suppressions.items()}
        state.recent_alerts = [RecentAlert(*a) for a in alerts]
        state.sent = {key: Sent(*s) for key, s in sent.items()}
        return state

    def _own_json(self) -> list[Any]:
        return [h.to_json() for h in self.histories()]

    @classmethod
    def _from_own_json(cls, own: list[Any]) -> Self:
        raise NotImplementedError


@dataclass(slots=True)
class IdentityState(SubjectState):
    """A person: SIM activations, account openings and watchlisting."""

    KIND: ClassVar[str] = "identity"
    STREAM_HISTORIES: ClassVar[dict[str, str]] = {"sim": "sims", "open": "opens"}
    READERS: ClassVar[dict[str, tuple[str, ...]]] = {"sim": ("sim",), "open": ("open",)}

    sims: History[SimRecord] = field(default_factory=History)
    opens: History[OpenRecord] = field(default_factory=History)
    listing: Listing | None = None
    lifted: list[Listing] = field(default_factory=list)
    """The listings tombstones lifted, newest last, at most MAX_LIFTED: a listing record
    equal to one of them is one delivered again (read again after a crash, or duanka's own
    listing coming back through the `watchlist` topic after it was lifted), not a new one."""
    replaced: Listing | None = None
    """The authority's listing that duanka's own listing in force replaced (it did not last
    as long): the identity gets it back if an appeal lifts duanka's."""
    watchlist_read: dict[str, int] = field(default_factory=dict)
    """Per watchlist partition (`watermark.origin_of`), the offset of the last record about
    the identity read there: a record at or before it is one delivered again. Kept for
    good, so that a tombstone that found nothing to lift is known when it comes again
    after a burst has listed the person."""

    def histories(self) -> tuple[History[Any], ...]:
        return (self.sims, self.opens)

    def is_empty(self) -> bool:
        return (
            self.listing is None
            and not self.lifted
            and self.replaced is None
            and not self.watchlist_read
            and SubjectState.is_empty(self)
        )

    def read_again(self, origin: str, offset: int | None) -> bool:
        """Whether a watchlist record read at `offset` of `origin` is one delivered again;
        if not, it is the last one read there. Records of one partition are applied in
        offset order, so every earlier one about the identity has been applied."""
        if offset is None:
            return False
        if offset <= self.watchlist_read.get(origin, -1):
            return True
        self.watchlist_read[origin] = offset
        return False

    def lift(self) -> None:
        """Lift the listing in force (a tombstone), and remember it."""
        if self.listing is not None:
            self.lifted = [*self.lifted, self.listing][-MAX_LIFTED:]
            self.listing = None
        self.replaced = None

    def forget_listing_ended_by(self, horizon: int) -> None:
        """Drop a listing, in force, replaced or lifted, that ended at or before `horizon`."""
        if self.listing is not None and _ended_by(self.listing, horizon):
            self.listing = None
        if self.replaced is not None and _ended_by(self.replaced, horizon):
            self.replaced = None
        if any(_ended_by(listing, horizon) for listing in self.lifted):
            self.lifted = [listing for listing in self.lifted if not _ended_by(listing, horizon)]

    def _own_json(self) -> list[Any]:
        return [
            self.sims.to_json(),
            self.opens.to_json(),
            None if self.listing is None else list(self.listing),
            [list(listing) for listing in self.lifted],
            None if self.replaced is None else list(self.replaced),
            self.watchlist_read,
        ]

    @classmethod
    def _from_own_json(cls, own: list[Any]) -> "IdentityState":
        sims, opens, listing, lifted, replaced, watchlist_read = own
        return cls(
            sims=History([SimRecord(*r) for r in sims]),
            opens=History([OpenRecord(*r) for r in opens]),
            listing=None if listing is None else Listing(*listing),
            lifted=[Listing(*entry) for entry in lifted],
            replaced=None if replaced is None else Listing(*replaced),
            watchlist_read=dict(watchlist_read),
        )


def _ended_by(listing: Listing, horizon: int) -> bool:
    return listing.expires_at is not None and listing.expires_at <= horizon


@dataclass(slots=True)
class DeviceState(SubjectState):
    """A handset or modem: who activated SIMs or opened accounts on it."""

    KIND: ClassVar[str] = "device"
    STREAM_HISTORIES: ClassVar[dict[str, str]] = {"sim": "uses", "open": "uses"}
    READERS: ClassVar[dict[str, tuple[str, ...]]] = {
        "sim": ("sim", "open"),
        "open": ("sim", "open"),
    }

    uses: History[DeviceUse] = field(default_factory=History)

    def histories(self) -> tuple[History[Any], ...]:
        return (self.uses,)

    @classmethod
    def _from_own_json(cls, own: list[Any]) -> "DeviceState":
        [uses] = own
        return cls(uses=History([DeviceUse(*r) for r in uses]))


@dataclass(slots=True)
class MsisdnState(SubjectState):
    """A phone number: who activated it, and which accounts were opened with it."""

    KIND: ClassVar[str] = "msisdn"
    STREAM_HISTORIES: ClassVar[dict[str, str]] = {"sim": "activations", "open": "uses"}
    READERS: ClassVar[dict[str, tuple[str, ...]]] = {
        "sim": ("sim", "open"),
        "open": ("sim", "open"),
    }

    activations: History[NumberActivation] = field(default_factory=History)
    uses: History[NumberUse] = field(default_factory=History)

    def histories(self) -> tuple[History[Any], ...]:
        return (self.activations, self.uses)

    @classmethod
    def _from_own_json(cls, own: list[Any]) -> "MsisdnState":
        activations, uses = own
        return cls(
            activations=History([NumberActivation(*r) for r in activations]),
            uses=History([NumberUse(*r) for r in uses]),
        )


@dataclass(slots=True)
class AccountState(SubjectState):
    """An account: how it was opened, and the money in and out."""

    KIND: ClassVar[str] = "account"
    STREAM_HISTORIES: ClassVar[dict[str, str]] = {"in": "incoming", "out": "outgoing"}
    READERS: ClassVar[dict[str, tuple[str, ...]]] = {"in": ("in", "out"), "out": ("in", "out")}

    opening: Opening | None = None
    incoming: History[Leg] = field(default_factory=History)
    outgoing: History[Leg] = field(default_factory=History)
    flags: list[Flag] = field(default_factory=list)
    """The flags in force or still to be reached by an event in time, in time order."""

    def histories(self) -> tuple[History[Any], ...]:
        return (self.incoming, self.outgoing)

    def is_empty(self) -> bool:
        return self.opening is None and not self.flags and SubjectState.is_empty(self)

    def flag(self, flag: Flag) -> None:
        """Keep a flag in time order; one kept already is kept once. Two flags of one alert
        can differ in the holder named (raised before and after the opening was seen, by a
        reader out of order): the order puts a flag without a holder first."""
        if flag not in self.flags:
            bisect.insort(self.flags, flag, key=_flag_order)

    def forget_flags_before(self, horizon: int) -> None:
        """Drop the flags raised at or before `horizon`."""
        if self.flags and self.flags[0].at <= horizon:
            self.flags = [flag for flag in self.flags if flag.at > horizon]

    def holder(self) -> str | None:
        """The identity that opened the account, when its opening is known."""
        return None if self.opening is None else self.opening.holder

    def _own_json(self) -> list[Any]:
        return [
            None if self.opening is None else list(self.opening),
            self.incoming.to_json(),
            self.outgoing.to_json(),
            [list(flag) for flag in self.flags],
        ]

    @classmethod
    def _from_own_json(cls, own: list[Any]) -> "AccountState":
        opening, incoming, outgoing, flags = own
        return cls(
            opening=None if opening is None else Opening(*opening),
            incoming=History([Leg(*r) for r in incoming]),
            outgoing=History([Leg(*r) for r in outgoing]),
            flags=[Flag(*flag) for flag in flags],
        )


def _identity_v1_to_v2(data: list[Any]) -> list[Any]:
    """Version 1 held identities only: `[1, newest, activations, listing, suppressions,
    alerts]`, its activations already in `SimRecord` form."""
    _, newest, activations, listing, suppressions, alerts = data
    streams = {} if newest is None else {"sim": newest}
    return [2, "identity", streams, suppressions, alerts, activations, [], listing]


def _v2_to_v3(data: list[Any]) -> list[Any]:
    """Version 2 kept the newest event time per stream, not per input partition; it is
    dropped, so the first event from each partition after the upgrade is never late."""
    _, kind, _, *rest = data
    return [3, kind, {}, *rest]


def _v3_to_v4(data: list[Any]) -> list[Any]:
    """Version 3 did not keep what events sent: nothing is resent for events before the
    upgrade."""
    _, kind, newest, suppressions, alerts, *own = data
    return [4, kind, newest, suppressions, alerts, {}, *own]


def _v4_to_v5(data: list[Any]) -> list[Any]:
    """Version 4 did not remember lifted listings: none is known as lifted."""
    _, kind, *rest = data
    return [5, kind, *rest, []] if kind == "identity" else [5, kind, *rest]


def _v6_to_v7(data: list[Any]) -> list[Any]:
    """Version 6 identities did not remember an authority's listing duanka's replaced: an
    appeal then lifts duanka's without giving one back."""
    _, kind, *rest = data
    return [7, kind, *rest, None] if kind == "identity" else [7, kind, *rest]


def _v7_to_v8(data: list[Any]) -> list[Any]:
    """Version 7 identities did not remember where their watchlist records were read: a
    record read again after the upgrade is taken by its content alone, as before."""
    _, kind, *rest = data
    return [8, kind, *rest, {}] if kind == "identity" else [8, kind, *rest]


def _v5_to_v6(data: list[Any]) -> list[Any]:
    """Version 5 records did not keep the entities their events named besides the ones
    rules count, an opening its holder, nor a leg its counterparty's institution: they read
    as None. Accounts had no flags."""
    _, kind, *rest = data
    return [6, kind, *rest, []] if kind == "account" else [6, kind, *rest]
