"""The appeal path: a false positive found of the alert behind duanka's own listing of a
person lifts that listing, unless an authority's listing is in force; the person then
gets back the authority's listing duanka's had replaced."""

from datetime import datetime, timedelta

from duanka.detector.core.engine import Engine
from duanka.detector.core.intake import Appeal, WatchlistUpdate
from duanka.detector.core.policy import Policy
from duanka.detector.core.routing import Address
from duanka.detector.core.state import IdentityState, Listing, SubjectState
from duanka.detector.ingest import as_written
from duanka.replay.replayer import Replayer
from duanka.schemas.alerts import Alert
from duanka.schemas.dispositions import Disposition
from duanka.schemas.events import SimActivation, WatchlistEntry
from tests.factories import NOW, T0, activation, identity, listing, rules_of

HOUR = timedelta(hours=1)
FARMER = "appealing-farmer"


def burst(count: int = 5, first: int = 0) -> list[SimActivation]:
    """Activations an hour apart from T0: the fifth raises `bulk_sim_opener`, which lists
    the farmer."""
    return [activation(FARMER, T0 + n * HOUR, n=n + 1) for n in range(first, first + count)]


def replayed(
    events: list[SimActivation | WatchlistEntry | Disposition],
) -> tuple[Replayer, list[Alert]]:
    replayer = Replayer(Engine(Policy()))
    alerts: list[Alert] = []
    for event in events:
        if isinstance(event, WatchlistEntry):
            alerts += replayer.apply(WatchlistUpdate(event.identity, event))
        else:
            alerts += replayer.apply(event)
    return replayer, alerts


def cleared(alert: Alert, at: datetime = T0 + 10 * HOUR) -> Disposition:
    return Disposition(
        alert_id=alert.alert_id, institution="cmcc", outcome="false_positive", decided_at=at
    )


def farmer_state(replayer: Replayer) -> IdentityState:
    state: SubjectState = replayer.states[("identity", identity(FARMER))]
    assert isinstance(state, IdentityState)
    return state


def appeal_of(alert: Alert, at: datetime = T0 + 10 * HOUR) -> Appeal:
    return Appeal(identity(FARMER), alert.alert_id, alert.rule, alert.window.end, "cmcc", at)


def test_a_false_positive_lifts_the_listing_its_alert_made() -> None:
    later = activation(FARMER, T0 + 20 * HOUR, n=20)
    _, listed = replayed([*burst(), later])
    assert rules_of(listed, "watchlisted_identity")  # the listing bars the later activation
    [opener] = rules_of(listed, "bulk_sim_opener")
    replayer, alerts = replayed([*burst(), cleared(opener), later])
    assert rules_of(alerts, "watchlisted_identity") == []
    state = farmer_state(replayer)
    assert state.listing is None
    assert [entry.source for entry in state.lifted] == ["duanka"]


def test_the_lifted_listing_is_a_tombstone_on_the_watchlist_and_again_when_read_again() -> None:
    replayer, alerts = replayed(burst())
    [opener] = rules_of(alerts, "bulk_sim_opener")
    engine, state = Engine(Policy()), farmer_state(replayer)
    address = Address("identity", identity(FARMER), "appeal")
    first = engine.apply(address, state, appeal_of(opener), NOW)
    assert (first.lifts, first.listings) == ([identity(FARMER)], [])
    assert first.state is not None
    again = engine.apply(address, first.state, appeal_of(opener), NOW)
    assert (again.lifts, again.listings) == ([identity(FARMER)], [])


def test_an_appeal_of_an_alert_that_listed_no_one_changes_nothing() -> None:
    replayer, alerts = replayed([*burst(), activation(FARMER, T0 + 20 * HOUR, n=20)])
    [barred] = rules_of(alerts, "watchlisted_identity")
    state = farmer_state(replayer)
    before = state.listing
    outcome = Engine(Policy()).apply(
        Address("identity", identity(FARMER), "appeal"), state, appeal_of(barred), NOW
    )
    assert (outcome.lifts, outcome.listings, state.listing) == ([], [], before)


def test_an_authority_s_listing_in_force_is_not_lifted() -> None:
    """The police listed the farmer for good: duanka does not list them again, and a bank's
    false positive on the bulk opener's alert leaves the police listing alone."""
    police = listing(FARMER, T0 - HOUR)
    replayer, alerts = replayed([police, *burst()])
    [opener] = rules_of(alerts, "bulk_sim_opener")
    replayer.apply(cleared(opener))
    state = farmer_state(replayer)
    assert state.listing is not None and state.listing.source == "mps-afc"


def test_the_authority_s_listing_duanka_s_replaced_comes_back() -> None:
    """The police listed the farmer for a week; duanka's listing, for longer, replaced it.
    A false positive found of duanka's alert gives the police listing back, published
    again; once the police listing has ended, a tombstone instead."""
    police = listing(FARMER, T0 - HOUR, T0 + timedelta(days=7))
    replayer, alerts = replayed([police, *burst()])
    [opener] = rules_of(alerts, "bulk_sim_opener")
    state = farmer_state(replayer)
    assert state.listing is not None and state.listing.source == "duanka"
    assert state.replaced == Listing(*_listing_fields(police))
    address = Address("identity", identity(FARMER), "appeal")
    engine = Engine(Policy())
    within = engine.apply(address, state.from_json(state.to_json()), appeal_of(opener), NOW)
    assert within.lifts == [] and within.listings == [police]
    after = engine.apply(address, state, appeal_of(opener, T0 + timedelta(days=8)), NOW)
    assert after.lifts == [identity(FARMER)] and after.listings == []


def test_an_identity_of_state_version_6_reads_with_no_replaced_listing() -> None:
    replayer, _ = replayed(burst())
    data = farmer_state(replayer).to_json()
    old = [6, *data[1:-2]]  # version 6 had no replaced listing, nor where records were read
    restored = IdentityState.from_json(old)
    assert restored.replaced is None
    assert restored.listing == farmer_state(replayer).listing


def test_an_identity_of_state_version_7_reads_knowing_no_watchlist_record_read() -> None:
    replayer, _ = replayed(burst())
    state = farmer_state(replayer)
    state.watchlist_read["watchlist/3"] = 41
    old = [7, *state.to_json()[1:-1]]  # version 7 did not keep where records were read
    restored = IdentityState.from_json(old)
    assert restored.watchlist_read == {}
    assert restored.listing == state.listing
    assert IdentityState.from_json(state.to_json()).watchlist_read == {"watchlist/3": 41}


def _listing_fields(entry: WatchlistEntry) -> tuple[int, int | None, str, str]:
    expires = None if entry.expires_at is None else int(entry.expires_at.timestamp() * 1000)
    return int(entry.listed_at.timestamp() * 1000), expires, entry.source, entry.reason


def test_a_false_positive_written_before_its_alert_was_raised_lifts_nothing() -> None:
    """Replay takes a disposition at its place: one of an alert not raised yet is held, sets
    the case's status when the alert comes, and does nothing to the person (the institution
    cannot have decided on that alert): the worker places it the same way
    (`core.disposition_gate`)."""
    _, [alert] = replayed(list(burst()))
    replayer, alerts = replayed([cleared(alert), *burst()])
    assert [a.alert_id for a in alerts] == [alert.alert_id]
    assert farmer_state(replayer).listing is not None
    assert replayer.stats.dispositions == {("bulk_sim_opener", "false_positive"): 1}
    assert replayer.take_cases()[-1].status == "closed"


def test_the_tombstone_of_an_appeal_read_back_lifts_nothing_that_came_after() -> None:
    """The appeal lifted duanka's listing and wrote a tombstone; the police list the farmer
    before the worker reads it back. Replay takes the tombstone back at once; the worker,
    reading it after the police listing, must leave that listing alone: its own tombstone
    is known by its header (`ingest.as_written`)."""
    replayer, alerts = replayed(burst())
    [opener] = rules_of(alerts, "bulk_sim_opener")
    engine = Engine(Policy())
    address = Address("identity", identity(FARMER), "appeal")
    lifted = engine.apply(address, farmer_state(replayer), appeal_of(opener), NOW)
    police = listing(FARMER, T0 + 11 * HOUR)
    record = Address("identity", identity(FARMER), "listing")
    listed = engine.apply(record, lifted.state, WatchlistUpdate(identity(FARMER), police), NOW)
    assert isinstance(listed.state, IdentityState) and listed.state.listing is not None
    headers = [("duanka-lifted", b"own")]
    back = as_written(WatchlistUpdate(identity(FARMER), None), headers)
    assert back == WatchlistUpdate(identity(FARMER), None, lifted_own=True)
    outcome = engine.apply(record, listed.state, back, NOW)
    assert outcome.duplicate
    assert isinstance(outcome.state, IdentityState) and outcome.state.listing is not None
    plain = engine.apply(
        record, listed.state, as_written(WatchlistUpdate(identity(FARMER), None), []), NOW
    )
    assert isinstance(plain.state, IdentityState) and plain.state.listing is None
