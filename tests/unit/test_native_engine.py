"""The native engine against the Python engine it stands in for, subject by subject.

The same events, in the same order, from the same origins, at the same watermarks, go to
both; after each, both must have published the same alerts (byte for byte, as the wire
carries them), said the same of duplicates and late events, and left the same state (byte
for byte, as the changelog stores it). Built so far: the device and number subjects.
"""

import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from duanka._native import Subjects
from duanka.detector.core.clock import duration_ms, to_ms
from duanka.detector.core.compact import compact
from duanka.detector.core.engine import Engine
from duanka.detector.core.policy import BorrowedPhonePolicy, Policy, SharedDevicePolicy
from duanka.detector.core.routing import Address, route
from duanka.detector.core.state import SubjectState
from duanka.schemas.events import AccountOpen, SimActivation
from duanka.simulator.scenario import Scenario, ScenarioConfig

T0 = datetime(2026, 11, 1, tzinfo=UTC)
EAST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 7, 9, 30, 1, 250_001, tzinfo=UTC)
NOW_US = (NOW - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


NATIVE_KINDS = ("device", "msisdn")


class Pair:
    """The Python engine and the native subjects of one kind, fed alike."""

    def __init__(self, kind: str, policy: Policy) -> None:
        self.kind = kind
        self.engine = Engine(policy)
        self.native = Subjects(kind, policy.in_ms())
        self.states: dict[str, SubjectState] = {}
        self.alerts = 0

    def apply(
        self,
        address: Address,
        event: SimActivation | AccountOpen,
        origin: str,
        watermark: int | None,
    ) -> None:
        key, stream = address.id, address.stream
        topic = "sim-activations" if isinstance(event, SimActivation) else "account-opens"
        outcome = self.engine.apply(
            address,
            self.states.get(key),
            event,
            NOW,
            origin=origin,
            watermark=watermark,
        )
        if outcome.state is None:
            self.states.pop(key, None)
        else:
            self.states[key] = outcome.state
        values = orjson.dumps(compact(topic, event))
        alerts, duplicate, late = self.native.apply(key, stream, values, origin, watermark, NOW_US)
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

    def apply(self, event: SimActivation | AccountOpen, origin: str, watermark: int | None) -> None:
        for address in route(event):
            if address.kind in self.pairs:
                self.pairs[address.kind].apply(address, event, origin, watermark)

    def reload(self) -> None:
        for pair in self.pairs.values():
            pair.reload()


def test_the_default_mix_alike() -> None:
    scenario = Scenario(ScenarioConfig(11, T0, seconds_per_event=18.0))
    pairs = Pairs(Policy())
    watermark = None
    for message in itertools.chain(
        itertools.islice(scenario.messages(), 30_000), scenario.pending()
    ):
        if message.topic not in ("sim-activations", "account-opens"):
            continue
        model = SimActivation if message.topic == "sim-activations" else AccountOpen
        event = model.model_validate(message.value)
        pairs.apply(event, f"{message.topic}/0", watermark)
        at = to_ms(event.occurred_at) - duration_ms(timedelta(hours=2))
        watermark = at if watermark is None else max(watermark, at)
    assert all(pair.alerts > 0 for pair in pairs.pairs.values())
    pairs.reload()


IDENTITIES = [f"{i:x}" * 64 for i in range(1, 9)]
NUMBERS = [f"+861380013800{i}" for i in range(6)]
DEVICES = ["imei:1", "imei:356938035643809"]
SMALL = Policy(
    shared_device=SharedDevicePolicy(min_identities=3, window=timedelta(hours=6)),
    borrowed_phone=BorrowedPhonePolicy(lookback=timedelta(hours=8)),
    allowed_lateness=timedelta(hours=1),
)


@st.composite
def line_events(draw: st.DrawFn) -> list[tuple[str, Any, str, int | None]]:
    """Activations and openings on two devices and six numbers by a few identities, out of
    order, some delivered again, from three origins, at watermarks that come and go
    forward."""
    events: list[tuple[str, Any, str, int | None]] = []
    watermark: int | None = None
    for index in range(draw(st.integers(1, 40))):
        repeat = events and draw(st.integers(0, 5)) == 0
        if repeat:
            device, event, _, _ = draw(st.sampled_from(events))
        else:
            device = draw(st.sampled_from(DEVICES))
            at = T0 + timedelta(minutes=draw(st.integers(0, 60 * 30)))
            at = at.astimezone(draw(st.sampled_from([UTC, EAST])))
            identity = draw(st.sampled_from(IDENTITIES))
            msisdn = draw(st.sampled_from([*NUMBERS, None]))
            if draw(st.booleans()):
                event = SimActivation(
                    event_id=f"s{index}",
                    occurred_at=at,
                    source=draw(st.sampled_from(["cmcc", "ctcc"])),
                    identity=identity,
                    msisdn=msisdn or NUMBERS[0],
                    sim_kind="mno",
                    channel="store",
                    outlet=draw(st.sampled_from([None, "cmcc.outlet-1"])),
                    device=device,
                )
            else:
                event = AccountOpen(
                    event_id=f"o{index}",
                    occurred_at=at,
                    source="icbc",
                    identity=identity,
                    account=f"icbc:{index}",
                    account_kind=draw(st.sampled_from(["personal", "corporate"])),
                    channel="mobile",
                    msisdn=msisdn,
                    device=device,
                    company="co-1",
                )
        origin = draw(
            st.sampled_from(["sim-activations/0", "sim-activations/1", "account-opens/0"])
        )
        if draw(st.booleans()):
            step = draw(st.integers(0, 12 * 3600_000))
            watermark = to_ms(T0) + step if watermark is None else watermark + step // 4
        events.append((device, event, origin, watermark))
    return events


@settings(max_examples=400, deadline=None)
@given(line_events())
def test_random_streams_alike(events: list[tuple[str, Any, str, int | None]]) -> None:
    pairs = Pairs(SMALL)
    for _, event, origin, watermark in events:
        pairs.apply(event, origin, watermark)
        pairs.reload()
