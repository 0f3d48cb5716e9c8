"""Identity state: ordered windows and a compact encoding that round-trips exactly."""

from datetime import timedelta

import orjson
import pytest

from services.detector.core.engine import Engine
from services.detector.core.policy import Policy
from services.detector.core.state import MAX_RECENT_ALERTS, Activation, IdentityState
from tests.factories import NOW, T0, burst, listing


def test_round_trip_through_json_bytes() -> None:
    engine = Engine(Policy())
    state = engine.apply_watchlist(
        None, listing("alice", T0 - timedelta(days=1), T0 + timedelta(days=9))
    )
    for event in burst("alice", 6):
        state = engine.apply_sim_activation(state, event, NOW).state
    assert state is not None and state.recent_alerts and state.suppressions
    decoded = IdentityState.from_json(orjson.loads(orjson.dumps(state.to_json())))
    assert decoded == state


def test_encoding_is_compact() -> None:
    state = IdentityState()
    for i in range(5):
        state.add_activation(
            Activation(1_760_000_000_000 + i, f"cmcc-{i:06d}", "cmcc", f"+86138{i:08d}")
        )
    assert len(orjson.dumps(state.to_json())) < 300


def test_unknown_version_is_refused() -> None:
    data = IdentityState().to_json()
    data[0] = 99
    with pytest.raises(ValueError, match="version 99"):
        IdentityState.from_json(data)


def test_window_query_is_half_open() -> None:
    state = IdentityState()
    for at in (10, 20, 30):
        state.add_activation(Activation(at, f"e{at}", "cmcc", "+8613800000000"))
    assert [a.at for a in state.activations_within(10, 30)] == [20, 30]


def test_recent_alerts_are_capped() -> None:
    state = IdentityState()
    for i in range(MAX_RECENT_ALERTS + 5):
        state.remember_alert(f"{i:032x}", "bulk_sim_opener", i)
    assert len(state.recent_alerts) == MAX_RECENT_ALERTS
    assert state.recent_alerts[-1].at == MAX_RECENT_ALERTS + 4
