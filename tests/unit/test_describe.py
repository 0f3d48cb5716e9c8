"""What the query API shows of a subject: window counts, listing, opening, alerts."""

from datetime import timedelta

from duanka.detector.core.describe import describe
from duanka.detector.core.engine import Engine
from duanka.detector.core.policy import Policy
from duanka.detector.core.routing import Address
from duanka.detector.core.state import AccountState, IdentityState, SubjectState
from duanka.replay.replayer import Replayer
from tests.factories import NOW, T0, account_open, activation, burst, identity, transfer

POLICY = Policy()


def test_an_identity_shows_its_window_counts_listing_and_alerts() -> None:
    replayer = Replayer(Engine(POLICY))
    old = activation("alice", T0 - timedelta(days=8), n=99)  # outside the 7-day window
    for event in [old, *burst("alice", 5)]:
        replayer.apply(event)
    state = replayer.states[("identity", identity("alice"))]
    described = describe("identity", state, POLICY)
    assert described["windows"]["bulk_sim_opener"] == {"window": "P7D", "events": 5}
    assert described["windows"]["bulk_company_accounts"] == {"window": "P30D", "events": 0}
    assert described["newest_event_at"] == "2026-11-01T16:00:00Z"
    assert described["watchlist"]["source"] == POLICY.watchlist_source
    assert [a["rule"] for a in described["recent_alerts"]] == ["bulk_sim_opener"]
    assert set(described["suppressed"]) == {"bulk_sim_opener"}


def test_an_account_shows_how_it_was_opened_and_its_legs() -> None:
    engine = Engine(POLICY)
    opening = account_open("bob", kind="corporate")
    state: SubjectState | None = engine.apply(
        Address("account", opening.account, "open"), None, opening, NOW
    ).state
    leg = transfer("payer", opening.account, 100, at=T0 + timedelta(hours=1))
    state = engine.apply(Address("account", opening.account, "in"), state, leg, NOW).state
    assert isinstance(state, AccountState)
    described = describe("account", state, POLICY)
    assert described["opened"]["account_kind"] == "corporate"
    assert described["opened"]["holder"] == opening.identity
    assert described["flags"] == []
    assert described["windows"]["mule_fan_in"] == {"window": "P1D", "events": 1}
    assert described["windows"]["mule_pass_through"] == {"window": "PT1H", "events": 1}
    assert described["windows"]["mule_fan_out"] == {"window": "P1D", "events": 0}


def test_a_subject_with_nothing_in_its_windows() -> None:
    described = describe("identity", IdentityState(), POLICY)
    assert described["newest_event_at"] is None
    assert described["watchlist"] is None
    assert all(w["events"] == 0 for w in described["windows"].values())


def test_a_flagged_account_shows_its_flags() -> None:
    mule = "icbc:collector-9"
    events = [transfer(f"victim-{n}", mule, 1_000, T0 + timedelta(hours=n), n=n) for n in range(10)]
    engine = Engine(POLICY)
    state: SubjectState | None = None
    for event in events:
        state = engine.apply(Address("account", mule, "in"), state, event, NOW).state
    assert isinstance(state, AccountState)
    [flag] = describe("account", state, POLICY)["flags"]
    assert flag["rule"] == "mule_fan_in" and flag["at"] == "2026-11-01T21:00:00Z"
