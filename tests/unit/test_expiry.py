"""Expiry: a subject that goes quiet is forgotten once the watermark of its input has moved
past its windows plus the allowed lateness, never earlier, and forgetting changes no alert."""

import itertools
from datetime import datetime, timedelta

from duanka.detector.core.clock import duration_ms, to_ms
from duanka.detector.core.engine import Engine
from duanka.detector.core.policy import Policy
from duanka.detector.core.routing import Address
from duanka.detector.core.state import AccountState, IdentityState, SubjectState
from duanka.replay.replayer import Replayer
from duanka.schemas.events import WatchlistEntry
from tests.factories import (
    NOW,
    T0,
    account_open,
    activation,
    at_identity,
    burst,
    listing,
    set_listing,
)
from tests.unit.test_simulator import admitted, simulate

POLICY = Policy()
SIM_RETENTION = POLICY.bulk_sim_opener.window + POLICY.allowed_lateness


def identity_with(events: int) -> tuple[Engine, IdentityState]:
    engine = Engine(POLICY)
    state: SubjectState | None = None
    for event in burst("alice", events):
        state = at_identity(engine, state, event).state
    assert isinstance(state, IdentityState)
    return engine, state


def test_a_quiet_identity_is_kept_until_its_window_and_lateness_have_passed() -> None:
    engine, state = identity_with(3)
    newest = max(r.at for r in state.sims)
    just_before = newest + duration_ms(SIM_RETENTION) - 1
    assert engine.expire("identity", state, just_before) is state
    assert len(state.sims) == 1  # the older two are already out of reach
    assert engine.expire("identity", state, just_before + 1) is None


def test_nothing_is_forgotten_while_the_watermark_is_unknown() -> None:
    engine, state = identity_with(3)
    assert engine.expire("identity", state, None) is state
    assert len(state.sims) == 3


def test_a_burst_that_fired_leaves_only_the_listing() -> None:
    engine, state = identity_with(POLICY.bulk_sim_opener.min_activations)
    assert state.listing is not None and state.suppressions
    later = to_ms(T0 + timedelta(days=30))
    assert engine.expire("identity", state, later) is state
    assert not state.sims and not state.suppressions
    assert state.listing is not None


def test_an_ended_listing_is_dropped_after_the_lateness_a_permanent_one_never() -> None:
    engine = Engine(POLICY)
    ends = T0 + timedelta(days=10)
    state = set_listing(engine, None, "bob", _listing("bob", ends))
    state = at_identity(engine, state, activation("bob", T0 + timedelta(days=1))).state
    assert isinstance(state, IdentityState)
    at_end = to_ms(ends + POLICY.allowed_lateness)
    assert engine.expire("identity", state, at_end - 1) is state
    assert engine.expire("identity", state, at_end) is None

    permanent = set_listing(engine, None, "carol", _listing("carol", None))
    assert permanent is not None
    assert engine.expire("identity", permanent, to_ms(NOW) * 2) is permanent


def test_personal_openings_expire_corporate_ones_are_kept_for_the_exemption() -> None:
    engine = Engine(POLICY)
    age = POLICY.new_account_velocity.max_account_age + POLICY.allowed_lateness
    late = to_ms(T0 + age) + 1
    for kind, kept in (("personal", False), ("corporate", True)):
        event = account_open("dave", kind=kind)
        outcome = engine.apply(Address("account", event.account, "open"), None, event, NOW)
        assert isinstance(outcome.state, AccountState)
        expired = engine.expire("account", outcome.state, late)
        assert (expired is not None) is kept


def test_sweeping_often_changes_no_alert_and_bounds_what_replay_holds() -> None:
    _, messages = simulate(11, 12_000)
    events = [admitted(m) for m in messages]
    keep_all = Replayer(Engine(POLICY), sweep_every=len(events) + 1)
    sweeping = Replayer(Engine(POLICY), sweep_every=200)
    expected = list(itertools.chain.from_iterable(keep_all.apply(e) for e in events))
    found = list(itertools.chain.from_iterable(sweeping.apply(e) for e in events))
    assert [a.alert_id for a in found] == [a.alert_id for a in expected]
    assert sweeping.stats.expired > 0
    assert len(sweeping.states) < len(keep_all.states) / 2


def _listing(who: str, expires_at: datetime | None) -> WatchlistEntry:
    return listing(who, T0 - timedelta(days=1), expires_at)
