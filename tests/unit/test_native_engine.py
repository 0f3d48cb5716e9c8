"""The native engine against the Python engine it stands in for, subject by subject.

The same events, in the same order, from the same origins, at the same watermarks, go to
both; after each, both must have published the same alerts (byte for byte, as the wire
carries them), said the same of duplicates and late events, and left the same state (byte
for byte, as the changelog stores it). Every subject kind.
"""

import itertools
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duanka._native import Subjects
from duanka.detector.core.clock import duration_ms, from_ms, to_ms, to_us
from duanka.detector.core.compact import compact
from duanka.detector.core.engine import Engine
from duanka.detector.core.intake import (
    EVENT_MODELS,
    Appeal,
    Confirmation,
    WatchlistUpdate,
    decode_admitted,
)
from duanka.detector.core.policy import (
    BorrowedPhonePolicy,
    BulkAccountOpenerPolicy,
    BulkCompanyAccountsPolicy,
    BulkSimOpenerPolicy,
    MuleFanPolicy,
    MulePassThroughPolicy,
    NewAccountVelocityPolicy,
    PaymentToFlaggedPolicy,
    Policy,
    SharedDevicePolicy,
)
from duanka.detector.core.routing import Address, route
from duanka.detector.core.state import SubjectState
from duanka.detector.core.watermark import TOPIC_OF
from duanka.schemas.events import AccountOpen, SimActivation, Transfer, WatchlistEntry
from duanka.simulator.scenario import Scenario, ScenarioConfig

T0 = datetime(2026, 11, 1, tzinfo=UTC)
EAST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 7, 9, 30, 1, 250_001, tzinfo=UTC)
NOW_US = to_us(NOW)
NATIVE_KINDS = ("identity", "device", "msisdn", "account")

Event = SimActivation | AccountOpen | Transfer | Confirmation | WatchlistUpdate | Appeal


class Pair:
    """The Python engine and the native subjects of one kind, fed alike."""

    def __init__(self, kind: str, policy: Policy) -> None:
        self.engine = Engine(policy)
        self.native = Subjects(kind, policy.in_ms())
        self.states: dict[str, SubjectState] = {}
        self.alerts = 0

    def apply(
        self,
        address: Address,
        event: Event,
        origin: str,
        offset: int | None,
        watermark: int | None,
    ) -> None:
        key = address.id
        outcome = self.engine.apply(
            address,
            self.states.get(key),
            event,
            NOW,
            origin=origin,
            offset=offset,
            watermark=watermark,
        )
        if outcome.state is None:
            self.states.pop(key, None)
        else:
            self.states[key] = outcome.state
        values = orjson.dumps(compact(TOPIC_OF[type(event)], event))
        alerts, listings, lifts, duplicate, late = self.native.apply(
            key, address.stream, values, origin, offset, watermark, NOW_US
        )
        assert (duplicate, late) == (outcome.duplicate, outcome.late), event
        assert alerts == [a.model_dump_json().encode() for a in outcome.alerts], event
        assert listings == [e.model_dump_json().encode() for e in outcome.listings], event
        assert lifts == outcome.lifts, event
        expected = self.states.get(key)
        native_state = self.native.state(key)
        if expected is None:
            assert native_state is None
        else:
            assert native_state == orjson.dumps(expected.to_json()), event
        self.alerts += len(alerts)

    def reload(self) -> None:
        """Give the native side every state as the Python side encodes it: it must read
        it back to the same bytes."""
        for key, state in self.states.items():
            encoded = orjson.dumps(state.to_json())
            self.native.load(key, encoded)
            assert self.native.state(key) == encoded


class Pairs:
    """A pair per native kind; an event goes to every native subject it concerns."""

    def __init__(self, policy: Policy) -> None:
        self.pairs = {kind: Pair(kind, policy) for kind in NATIVE_KINDS}

    def apply(
        self, event: Event, origin: str, watermark: int | None, offset: int | None = None
    ) -> None:
        for address in route(event):
            if address.kind in self.pairs:
                self.pairs[address.kind].apply(address, event, origin, offset, watermark)

    def reload(self) -> None:
        for pair in self.pairs.values():
            pair.reload()


def test_the_default_mix_alike() -> None:
    scenario = Scenario(ScenarioConfig(11, T0, seconds_per_event=18.0))
    pairs = Pairs(Policy())
    watermark = None
    messages = itertools.chain(itertools.islice(scenario.messages(), 40_000), scenario.pending())
    for offset, message in enumerate(messages):
        if message.topic == "watchlist":
            value = message.encoded_value()
            update = decode_admitted("watchlist", message.key.encode(), value)
            pairs.apply(update, "watchlist/0", watermark, offset)  # type: ignore[arg-type]
            continue
        model = EVENT_MODELS.get(message.topic)
        if model is None:
            continue
        event = model.model_validate(message.value)
        pairs.apply(event, f"{message.topic}/0", watermark)
        at = to_ms(event.occurred_at) - duration_ms(timedelta(hours=2))
        watermark = at if watermark is None else max(watermark, at)
    assert all(pair.alerts > 0 for pair in pairs.pairs.values())
    pairs.reload()


IDENTITIES = [f"{i:x}" * 64 for i in range(1, 9)]
NUMBERS = [f"+861380013800{i}" for i in range(6)]
DEVICES = ["imei:1", "imei:356938035643809"]
ACCOUNTS = [f"icbc:{i}" for i in range(4)] + ["ccb:c9", "ccb:p7"]
SMALL = Policy(
    shared_device=SharedDevicePolicy(min_identities=3, window=timedelta(hours=6)),
    borrowed_phone=BorrowedPhonePolicy(lookback=timedelta(hours=8)),
    mule_pass_through=MulePassThroughPolicy(
        window=timedelta(hours=2), min_incoming_minor=50_000, min_outgoing_ratio=0.75
    ),
    mule_fan_in=MuleFanPolicy(min_counterparties=3, window=timedelta(hours=6)),
    mule_fan_out=MuleFanPolicy(min_counterparties=3, window=timedelta(hours=4)),
    new_account_velocity=NewAccountVelocityPolicy(
        max_account_age=timedelta(days=1),
        window=timedelta(hours=6),
        min_transfers=3,
        min_amount_minor=200_000,
    ),
    payment_to_flagged=PaymentToFlaggedPolicy(flag_ttl=timedelta(hours=12)),
    bulk_sim_opener=BulkSimOpenerPolicy(min_activations=3, window=timedelta(hours=6)),
    bulk_account_opener=BulkAccountOpenerPolicy(min_accounts=2, window=timedelta(hours=8)),
    bulk_company_accounts=BulkCompanyAccountsPolicy(min_companies=2, window=timedelta(hours=10)),
    watchlist_ttl=timedelta(hours=20),
    allowed_lateness=timedelta(hours=1),
)
ORIGINS = ["sim-activations/0", "account-opens/0", "transfers/0", "watchlist/0", "watchlist/1"]
BURST_RULES = ["bulk_sim_opener", "bulk_account_opener", "bulk_company_accounts"]


@st.composite
def one_event(draw: st.DrawFn, index: int) -> Event:
    # Mostly on a half-hour grid, so that events fall on the windows' edges (every window
    # and lateness here is a whole number of half hours), sometimes a millisecond off it.
    at = T0 + timedelta(minutes=30 * draw(st.integers(0, 60)))
    at += timedelta(milliseconds=draw(st.sampled_from([0, 0, 0, 1, -1])))
    at = at.astimezone(draw(st.sampled_from([UTC, EAST])))
    identity = draw(st.sampled_from(IDENTITIES[:4]))
    kind = draw(
        st.sampled_from(
            ["sim", "sim", "open", "open", "transfer", "confirmation", "listing", "appeal"]
        )
    )
    if kind == "sim":
        return SimActivation(
            event_id=f"s{index}",
            occurred_at=at,
            source=draw(st.sampled_from(["cmcc", "ctcc"])),
            identity=identity,
            msisdn=draw(st.sampled_from(NUMBERS)),
            sim_kind="mno",
            channel="store",
            outlet=draw(st.sampled_from([None, "cmcc.outlet-1"])),
            device=draw(st.sampled_from([None, *DEVICES])),
        )
    if kind == "open":
        return AccountOpen(
            event_id=f"o{index}",
            occurred_at=at,
            source="icbc",
            identity=identity,
            account=draw(st.sampled_from(ACCOUNTS)),
            account_kind=draw(st.sampled_from(["personal", "corporate", "payment"])),
            channel="mobile",
            msisdn=draw(st.sampled_from([None, *NUMBERS])),
            device=draw(st.sampled_from([None, *DEVICES])),
            company=draw(st.sampled_from(["co-1", "co-2", "co-3"])),
        )
    if kind == "listing":
        if draw(st.integers(0, 3)) == 0:
            return WatchlistUpdate(identity, None, lifted_own=draw(st.booleans()))
        expires = draw(st.sampled_from([None, timedelta(hours=3), timedelta(hours=40)]))
        own = draw(st.integers(0, 4)) == 0
        return WatchlistUpdate(
            identity,
            WatchlistEntry(
                identity=identity,
                reason=draw(st.sampled_from(["sold cards", "fraud ring"])),
                listed_at=at,
                expires_at=None if expires is None else at + expires,
                source="duanka" if own else "mps",
            ),
        )
    if kind == "appeal":
        return Appeal(
            identity=identity,
            alert_id="c" * 32,
            rule=draw(st.sampled_from(BURST_RULES)),
            listed_at=at,
            institution="afc",
            decided_at=at + timedelta(hours=draw(st.integers(0, 30))),
        )
    if kind == "transfer":
        sender, receiver = draw(st.permutations(ACCOUNTS))[:2]
        return Transfer(
            event_id=f"t{index}",
            occurred_at=at,
            source="icbc",
            from_account=sender,
            to_account=receiver,
            from_institution=sender.split(":")[0],
            to_institution=receiver.split(":")[0],
            amount_minor=draw(st.sampled_from([1, 9_999, 20_000, 50_000, 123_456_789])),
            currency=draw(st.sampled_from(["CNY", "CNY", "USD"])),
            channel="mobile",
        )
    return Confirmation(
        account=draw(st.sampled_from(ACCOUNTS)),
        alert_id=draw(st.sampled_from(["a" * 32, "b" * 32])),
        rule=draw(st.sampled_from(["mule_fan_in", "mule_pass_through"])),
        institution=draw(st.sampled_from(["icbc", "ccb"])),
        decided_at=at,
        holder=draw(st.sampled_from([None, IDENTITIES[0]])),
    )


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[Event, str, int | None, int | None]]:
    """Activations, openings, transfers, confirmations, watchlist records and appeals among a
    few identities, devices, numbers and accounts, out of order, some delivered again, from
    five origins, at watermarks that come and go forward."""
    events: list[tuple[Event, str, int | None, int | None]] = []
    watermark: int | None = None
    for index in range(draw(st.integers(1, 50))):
        if events and draw(st.integers(0, 5)) == 0:
            event = draw(st.sampled_from(events))[0]
        else:
            event = draw(one_event(index))
        openings = [e for e, *_ in events if isinstance(e, SimActivation | AccountOpen)]
        if isinstance(event, Appeal) and openings and draw(st.booleans()):
            # An appeal of a burst this opening may have ended: its own listing starts there.
            opening = draw(st.sampled_from(openings))
            rules = BURST_RULES[:1] if isinstance(opening, SimActivation) else BURST_RULES[1:]
            event = Appeal(
                identity=opening.identity,
                alert_id=event.alert_id,
                rule=draw(st.sampled_from(rules)),
                listed_at=opening.occurred_at,
                institution=event.institution,
                decided_at=event.decided_at,
            )
        if draw(st.booleans()):
            step = draw(st.integers(0, 12 * 3600_000))
            watermark = to_ms(T0) + step if watermark is None else watermark + step // 4
        offset = draw(st.sampled_from([None, 0, 1, 2, 3]))
        events.append((event, draw(st.sampled_from(ORIGINS)), watermark, offset))
    return events


@settings(max_examples=600, deadline=None)
@given(streams())
def test_random_streams_alike(events: list[tuple[Event, str, int | None, int | None]]) -> None:
    pairs = Pairs(SMALL)
    for event, origin, watermark, offset in events:
        pairs.apply(event, origin, watermark, offset)
        pairs.reload()


def listing(identity: str, at: datetime, hours: int | None, source: str = "mps") -> WatchlistUpdate:
    expires = None if hours is None else at + timedelta(hours=hours)
    entry = WatchlistEntry(
        identity=identity, reason="sold cards", listed_at=at, expires_at=expires, source=source
    )
    return WatchlistUpdate(identity, entry)


def sims(identity: str, at: datetime, count: int) -> list[SimActivation]:
    return [
        SimActivation(
            event_id=f"burst-{i}",
            occurred_at=at + timedelta(minutes=i),
            source="cmcc",
            identity=identity,
            msisdn=NUMBERS[i],
            sim_kind="mno",
            channel="store",
        )
        for i in range(count)
    ]


def test_a_record_read_again_at_its_offset_is_a_duplicate() -> None:
    pairs = Pairs(SMALL)
    who = IDENTITIES[0]
    pairs.apply(listing(who, T0, 3), "watchlist/0", None, offset=3)
    pairs.apply(listing(who, T0 + timedelta(hours=1), None), "watchlist/0", None, offset=3)
    pairs.apply(listing(who, T0 + timedelta(hours=2), None), "watchlist/0", None, offset=4)
    state = pairs.pairs["identity"].states[who]
    assert state.listing is not None and state.listing.expires_at is None


@pytest.mark.parametrize("decided_after_h", [3, 2])
def test_an_appeal_gives_back_the_listing_it_replaced_unless_ended(decided_after_h: int) -> None:
    """An authority's listing ending at T0 + 3 h is replaced by duanka's own (a burst); an
    appeal decided at T0 + 3 h does not give it back, one decided an hour earlier does."""
    pairs = Pairs(SMALL)
    who = IDENTITIES[1]
    pairs.apply(listing(who, T0, 3), "watchlist/0", None, offset=0)
    burst = sims(who, T0 + timedelta(hours=1), 3)
    for event in burst:
        pairs.apply(event, "sim-activations/0", None)
    identity = pairs.pairs["identity"]
    own = identity.states[who].listing
    assert own is not None and own.source == "duanka"
    appeal = Appeal(
        identity=who,
        alert_id="d" * 32,
        rule="bulk_sim_opener",
        listed_at=from_ms(own.listed_at),
        institution="afc",
        decided_at=T0 + timedelta(hours=decided_after_h),
    )
    pairs.apply(appeal, "dispositions/0", None)
    back = identity.states[who].listing
    assert (back is None) == (decided_after_h == 3)
