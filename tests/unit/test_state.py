"""Subject state: ordered histories and a compact encoding that round-trips exactly."""

from datetime import timedelta

import orjson
import pytest

from duanka.detector.core.engine import STATE_TYPES, Engine
from duanka.detector.core.history import History
from duanka.detector.core.intake import WatchlistUpdate
from duanka.detector.core.policy import Policy
from duanka.detector.core.state import (
    MAX_RECENT_ALERTS,
    DeviceState,
    IdentityState,
    NumberActivation,
    SimRecord,
    SubjectState,
)
from duanka.replay.replayer import Replayer
from tests.factories import T0, burst, listing


def test_every_kind_round_trips_through_json_bytes() -> None:
    replayer = Replayer(Engine(Policy()))
    replayer.apply(
        WatchlistUpdate(
            listing("alice", T0).identity,
            listing("alice", T0 - timedelta(days=1), T0 + timedelta(days=9)),
        )
    )
    for event in burst("alice", 6):
        replayer.apply(event)
    kinds = {kind for kind, _ in replayer.states}
    assert {"identity", "msisdn"} <= kinds
    for (kind, _), state in replayer.states.items():
        decoded = STATE_TYPES[kind].from_json(orjson.loads(orjson.dumps(state.to_json())))  # type: ignore[index]
        assert decoded == state


def test_encoding_is_compact() -> None:
    state = IdentityState()
    for i in range(5):
        state.sims.add(SimRecord(1_760_000_000_000 + i, f"cmcc-{i:06d}", "cmcc", f"+86138{i:08d}"))
    assert len(orjson.dumps(state.to_json())) < 400


def test_version_1_identity_state_is_upgraded() -> None:
    listing = [1, None, "mps-afc", "sold SIM cards"]
    v1 = [1, 20, [[10, "e1", "cmcc", "+8613800000001"]], listing, {"r": [5, 9]}, []]
    state = IdentityState.from_json(v1)
    assert state.newest == {}  # per stream, not per input partition: dropped
    assert [r.event_id for r in state.sims] == ["e1"]
    assert state.listing is not None and state.listing.source == "mps-afc"
    assert state.suppressions == {"r": (5, 9)}


def test_version_2_state_drops_its_newest_event_times_per_stream() -> None:
    v2 = [2, "device", {"sim": 20}, {}, [], [[10, "e1", "cmcc", "a", "+8613800000001", "cmcc"]]]
    state = DeviceState.from_json(v2)
    assert state.newest == {}
    assert [u.event_id for u in state.uses] == ["e1"]


def test_version_3_state_has_sent_nothing() -> None:
    v3 = [3, "device", {"sim-activations/0": 20}, {}, [], [[10, "e1", "cmcc", "a", None, "cmcc"]]]
    state = DeviceState.from_json(v3)
    assert state.sent == {} and state.newest == {"sim-activations/0": 20}
    assert DeviceState.from_json(state.to_json()) == state


def test_version_4_state_has_lifted_no_listing() -> None:
    v4 = [4, "identity", {}, {}, [], {}, [], [], [10, None, "mps-afc", "sold cards"]]
    state = IdentityState.from_json(v4)
    assert state.lifted == [] and state.listing is not None
    assert IdentityState.from_json(state.to_json()) == state
    v4_device = [4, "device", {}, {}, [], {}, [[10, "e1", "cmcc", "a", None, "cmcc"]]]
    assert [u.event_id for u in DeviceState.from_json(v4_device).uses] == ["e1"]


def test_unknown_version_or_kind_is_refused() -> None:
    data = IdentityState().to_json()
    with pytest.raises(ValueError, match="version 99"):
        IdentityState.from_json([99, *data[1:]])
    with pytest.raises(ValueError, match="not of a device"):
        STATE_TYPES["device"].from_json(data)


def test_window_query_is_half_open() -> None:
    history: History[NumberActivation] = History()
    for at in (30, 10, 20):
        history.add(NumberActivation(at, f"e{at}", "cmcc", "x"))
    assert [r.at for r in history] == [10, 20, 30]
    assert [r.at for r in history.within(10, 30)] == [20, 30]
    assert history.latest_at_or_before(25) == NumberActivation(20, "e20", "cmcc", "x")
    assert history.latest_at_or_before(5) is None


def test_recent_alerts_are_capped() -> None:
    state: SubjectState = IdentityState()
    for i in range(MAX_RECENT_ALERTS + 5):
        state.remember_alert(f"{i:032x}", "bulk_sim_opener", i)
    assert len(state.recent_alerts) == MAX_RECENT_ALERTS
    assert state.recent_alerts[-1].at == MAX_RECENT_ALERTS + 4
