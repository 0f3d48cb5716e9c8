"""The native engine against the Python engine it stands in for, subject by subject.

The same events, in the same order, from the same origins, at the same watermarks, go to
both; after each, both must have published the same alerts (byte for byte, as the wire
carries them), said the same of duplicates and late events, and left the same state (byte
for byte, as the changelog stores it). Built so far: the device, number and account
subjects.
"""

import itertools
from datetime import UTC, datetime, timedelta, timezone

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from duanka._native import Subjects
from duanka.detector.core.clock import duration_ms, to_ms
from duanka.detector.core.compact import compact
from duanka.detector.core.engine import Engine
from duanka.detector.core.intake import Confirmation, InputTopic
from duanka.detector.core.policy import (
    BorrowedPhonePolicy,
    MuleFanPolicy,
    MulePassThroughPolicy,
    NewAccountVelocityPolicy,
    PaymentToFlaggedPolicy,
    Policy,
    SharedDevicePolicy,
)
from duanka.detector.core.routing import Address, route
from duanka.detector.core.state import SubjectState
from duanka.schemas.events import AccountOpen, SimActivation, Transfer
from duanka.simulator.scenario import Scenario, ScenarioConfig

T0 = datetime(2026, 11, 1, tzinfo=UTC)
EAST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 7, 9, 30, 1, 250_001, tzinfo=UTC)
NOW_US = (NOW - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
NATIVE_KINDS = ("device", "msisdn", "account")

Event = SimActivation | AccountOpen | Transfer | Confirmation
TOPICS: dict[type, InputTopic] = {
    SimActivation: "sim-activations",
    AccountOpen: "account-opens",
    Transfer: "transfers",
    Confirmation: "dispositions",
}


class Pair:
    """The Python engine and the native subjects of one kind, fed alike."""

    def __init__(self, kind: str, policy: Policy) -> None:
        self.engine = Engine(policy)
        self.native = Subjects(kind, policy.in_ms())
        self.states: dict[str, SubjectState] = {}
        self.alerts = 0

    def apply(self, address: Address, event: Event, origin: str, watermark: int | None) -> None:
        key = address.id
        outcome = self.engine.apply(
            address, self.states.get(key), event, NOW, origin=origin, watermark=watermark
        )
        if outcome.state is None:
            self.states.pop(key, None)
        else:
            self.states[key] = outcome.state
        values = orjson.dumps(compact(TOPICS[type(event)], event))
        alerts, duplicate, late = self.native.apply(
            key, address.stream, values, origin, watermark, NOW_US
        )
        assert (duplicate, late) == (outcome.duplicate, outcome.late), event
        assert alerts == [a.model_dump_json().encode() for a in outcome.alerts], event
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

    def apply(self, event: Event, origin: str, watermark: int | None) -> None:
        for address in route(event):
            if address.kind in self.pairs:
                self.pairs[address.kind].apply(address, event, origin, watermark)

    def reload(self) -> None:
        for pair in self.pairs.values():
            pair.reload()


MODELS = {"sim-activations": SimActivation, "account-opens": AccountOpen, "transfers": Transfer}


def test_the_default_mix_alike() -> None:
    scenario = Scenario(ScenarioConfig(11, T0, seconds_per_event=18.0))
    pairs = Pairs(Policy())
    watermark = None
    for message in itertools.chain(
        itertools.islice(scenario.messages(), 40_000), scenario.pending()
    ):
        model = MODELS.get(message.topic)
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
    allowed_lateness=timedelta(hours=1),
)
ORIGINS = ["sim-activations/0", "account-opens/0", "transfers/0", "transfers/1"]


@st.composite
def one_event(draw: st.DrawFn, index: int) -> Event:
    # Mostly on a half-hour grid, so that events fall on the windows' edges (every window
    # and lateness here is a whole number of half hours), sometimes a millisecond off it.
    at = T0 + timedelta(minutes=30 * draw(st.integers(0, 60)))
    at += timedelta(milliseconds=draw(st.sampled_from([0, 0, 0, 1, -1])))
    at = at.astimezone(draw(st.sampled_from([UTC, EAST])))
    identity = draw(st.sampled_from(IDENTITIES))
    kind = draw(st.sampled_from(["sim", "open", "transfer", "transfer", "confirmation"]))
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
            company="co-1",
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
def streams(draw: st.DrawFn) -> list[tuple[Event, str, int | None]]:
    """Activations, openings, transfers and confirmations among a few identities, devices,
    numbers and accounts, out of order, some delivered again, from four origins, at
    watermarks that come and go forward."""
    events: list[tuple[Event, str, int | None]] = []
    watermark: int | None = None
    for index in range(draw(st.integers(1, 50))):
        if events and draw(st.integers(0, 5)) == 0:
            event = draw(st.sampled_from(events))[0]
        else:
            event = draw(one_event(index))
        if draw(st.booleans()):
            step = draw(st.integers(0, 12 * 3600_000))
            watermark = to_ms(T0) + step if watermark is None else watermark + step // 4
        events.append((event, draw(st.sampled_from(ORIGINS)), watermark))
    return events


@settings(max_examples=600, deadline=None)
@given(streams())
def test_random_streams_alike(events: list[tuple[Event, str, int | None]]) -> None:
    pairs = Pairs(SMALL)
    for event, origin, watermark in events:
        pairs.apply(event, origin, watermark)
        pairs.reload()
