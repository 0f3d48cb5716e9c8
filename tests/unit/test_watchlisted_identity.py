"""`watchlisted_identity` and the watchlist: listings, expiry, tombstones, self-listing."""

from datetime import timedelta

from duanka.detector.core.engine import Engine
from duanka.detector.core.intake import WatchlistUpdate
from duanka.detector.core.policy import Policy
from duanka.detector.core.routing import Address
from duanka.detector.core.state import MAX_LIFTED, IdentityState, SubjectState
from tests.factories import (
    NOW,
    T0,
    activation,
    at_identity,
    burst,
    identity,
    listing,
    set_listing,
)

ENGINE = Engine(Policy())
FIVE_YEARS = timedelta(days=5 * 365)


def listed(who: str, *args: object, **kwargs: object) -> IdentityState:
    state = set_listing(ENGINE, None, who, listing(who, *args, **kwargs))  # type: ignore[arg-type]
    assert state is not None
    return state


def rules(state: SubjectState | None, event: object) -> list[str]:
    outcome = at_identity(ENGINE, state, event)  # type: ignore[arg-type]
    return [a.rule for a in outcome.alerts]


def test_activation_while_listed_is_critical_and_blocks_the_number() -> None:
    state = listed("mallory", T0 - timedelta(days=30))
    event = activation("mallory", T0)
    outcome = at_identity(ENGINE, state, event)
    [alert] = outcome.alerts
    assert alert.rule == "watchlisted_identity"
    assert alert.severity == "critical"
    assert alert.trigger_event_id == event.event_id
    assert {(a.action, a.target, a.institution) for a in alert.actions} == {
        ("block_msisdn", event.msisdn, event.source),
        ("deny_new_services", identity("mallory"), None),
    }
    assert "mps-afc" in alert.summary


def test_fires_on_every_event() -> None:
    state: SubjectState | None = listed("mallory", T0 - timedelta(days=1))
    found = []
    for event in burst("mallory", 3):
        outcome = at_identity(ENGINE, state, event)
        state = outcome.state
        found += [a.rule for a in outcome.alerts if a.rule == "watchlisted_identity"]
    assert found == ["watchlisted_identity"] * 3


def test_not_listed_before_listed_at() -> None:
    state = listed("mallory", T0)
    assert rules(state, activation("mallory", T0 - timedelta(milliseconds=1))) == []
    assert rules(state, activation("mallory", T0, n=2)) == ["watchlisted_identity"]


def test_listing_ends_at_expiry() -> None:
    state = listed("mallory", T0 - timedelta(days=10), expires_at=T0)
    assert rules(state, activation("mallory", T0 - timedelta(milliseconds=1))) == [
        "watchlisted_identity"
    ]
    assert rules(state, activation("mallory", T0, n=2)) == []


def test_tombstone_lifts_the_listing() -> None:
    state = set_listing(ENGINE, listed("mallory", T0 - timedelta(days=1)), "mallory", None)
    assert state is not None and state.listing is None
    assert rules(state, activation("mallory", T0)) == []


def test_a_lifted_listing_delivered_again_is_not_set_again() -> None:
    """Read again after a crash, behind the tombstone that lifted it: still lifted, and
    what the person did since is not alerted."""
    entry = listing("mallory", T0 - timedelta(days=1))
    state = set_listing(ENGINE, set_listing(ENGINE, None, "mallory", entry), "mallory", None)
    state = at_identity(ENGINE, state, activation("mallory", T0)).state
    update = WatchlistUpdate(identity("mallory"), entry)
    again = ENGINE.apply(Address("identity", identity("mallory"), "listing"), state, update, NOW)
    assert again.duplicate and again.alerts == []
    assert isinstance(again.state, IdentityState) and again.state.listing is None
    assert rules(again.state, activation("mallory", T0 + timedelta(hours=1), n=2)) == []


def test_duankas_own_listing_coming_back_after_it_was_lifted_lists_nobody() -> None:
    """duanka sets its own listing at once, and publishes it to `watchlist`, from where
    it comes back later: after an authority lifted it meanwhile, it is not set again."""
    state: SubjectState | None = None
    listings = []
    for event in burst("alice", 5):
        outcome = at_identity(ENGINE, state, event)
        state, listings = outcome.state, listings + outcome.listings
    [own] = listings
    state = set_listing(ENGINE, state, "alice", None)
    state = set_listing(ENGINE, state, "alice", own)
    assert state is not None and state.listing is None
    assert rules(state, activation("alice", T0 + timedelta(days=1), n=6)) == []


def test_an_identity_remembers_only_its_latest_lifted_listings() -> None:
    state: IdentityState | None = None
    for days in range(MAX_LIFTED + 2):
        state = set_listing(ENGINE, state, "mallory", listing("mallory", T0 + timedelta(days)))
        state = set_listing(ENGINE, state, "mallory", None)
    assert state is not None and len(state.lifted) == MAX_LIFTED
    assert state.lifted[-1].listed_at > state.lifted[0].listed_at


def test_tombstone_keeps_the_activation_history() -> None:
    state = at_identity(ENGINE, None, activation("mallory", T0)).state
    state = set_listing(ENGINE, state, "mallory", listing("mallory", T0 + timedelta(days=1)))
    state = set_listing(ENGINE, state, "mallory", None)
    assert state is not None and state.listing is None and len(state.sims) == 1


def test_bulk_opener_is_self_listed_for_five_years() -> None:
    state: SubjectState | None = None
    events = burst("alice", 5)
    listings = []
    for event in events:
        outcome = at_identity(ENGINE, state, event)
        state = outcome.state
        listings += outcome.listings
    [entry] = listings
    assert entry.identity == identity("alice")
    assert entry.source == "duanka"
    assert entry.listed_at == events[-1].occurred_at
    assert entry.expires_at == events[-1].occurred_at + FIVE_YEARS
    assert "bulk_sim_opener" in entry.reason


def test_activation_after_self_listing_is_watchlisted() -> None:
    state: SubjectState | None = None
    for event in burst("alice", 5):
        state = at_identity(ENGINE, state, event).state
    sixth = activation("alice", T0 + timedelta(days=1), n=6)
    assert rules(state, sixth) == ["watchlisted_identity"]  # bulk_sim_opener is suppressed
    years_later = activation("alice", T0 + timedelta(hours=4) + FIVE_YEARS, n=7)
    assert "watchlisted_identity" not in rules(state, years_later)


def test_the_trigger_itself_is_not_a_watchlisted_activation() -> None:
    state: SubjectState | None = None
    found = []
    for event in burst("alice", 5):
        outcome = at_identity(ENGINE, state, event)
        state = outcome.state
        found += [a.rule for a in outcome.alerts]
    assert found == ["bulk_sim_opener"]


def test_self_listing_never_shortens_a_longer_listing() -> None:
    state: SubjectState | None = listed("alice", T0 - timedelta(days=1))  # no expiry
    listings = []
    for event in burst("alice", 5):
        outcome = at_identity(ENGINE, state, event)
        state = outcome.state
        listings += outcome.listings
    assert listings == []
    assert state is not None and state.listing is not None
    assert state.listing.expires_at is None and state.listing.source == "mps-afc"


def test_late_activation_is_still_checked_against_the_watchlist() -> None:
    state = listed("mallory", T0 - timedelta(days=30))
    state = at_identity(ENGINE, state, activation("mallory", T0, n=1)).state
    late = at_identity(ENGINE, state, activation("mallory", T0 - timedelta(days=2), n=2))
    assert late.late
    assert [a.rule for a in late.alerts] == ["watchlisted_identity"]


def test_listing_that_arrives_late_catches_activations_it_covers() -> None:
    state = at_identity(ENGINE, None, activation("mallory", T0, n=1)).state
    state = at_identity(ENGINE, state, activation("mallory", T0 + timedelta(hours=1), n=2)).state
    update = WatchlistUpdate(identity("mallory"), listing("mallory", T0 + timedelta(minutes=30)))
    outcome = ENGINE.apply(Address("identity", identity("mallory"), "listing"), state, update, NOW)
    assert [a.trigger_event_id for a in outcome.alerts] == ["cmcc-mallory-2"]


def test_the_same_listing_again_is_a_redelivery_that_sends_the_same_alerts_again() -> None:
    state = at_identity(ENGINE, None, activation("mallory", T0, n=1)).state
    update = WatchlistUpdate(identity("mallory"), listing("mallory", T0 - timedelta(days=1)))
    address = Address("identity", identity("mallory"), "listing")
    first = ENGINE.apply(address, state, update, NOW)
    again = ENGINE.apply(address, first.state, update, NOW + timedelta(minutes=5))
    assert [a.trigger_event_id for a in first.alerts] == ["cmcc-mallory-1"]
    assert again.duplicate and again.alerts == first.alerts
    assert again.state is not None and len(again.state.recent_alerts) == 1
