"""An event delivered again (a worker crashed after storing state, before its sends landed)
is not counted twice, and sends again exactly what it sent the first time."""

from datetime import timedelta

from duanka._native import Subjects
from duanka.detector.core.clock import to_ms
from duanka.detector.core.engine import Engine, Outcome
from duanka.detector.core.intake import WatchlistUpdate
from duanka.detector.core.policy import Policy
from duanka.detector.core.routing import Address
from duanka.detector.core.state import IdentityState, SubjectState
from duanka.detector.core.subject_memory import Applied, expire_held
from duanka.detector.core.watermark import TOPIC_OF, CommittedWatermark
from duanka.detector.ingest import forwards_of
from duanka.detector.subjects import apply_forward
from duanka.schemas.events import AccountOpen, Transfer, WatchlistEntry
from tests.factories import (
    NOW,
    T0,
    account_open,
    at_identity,
    burst,
    identity,
    listing,
    transfer,
)

ENGINE = Engine(Policy())


def test_a_redelivered_trigger_sends_its_alerts_and_listing_again_and_counts_nothing() -> None:
    *before, last = burst("mallory", 5)
    state = None
    for event in before:
        state = at_identity(ENGINE, state, event).state
    first = at_identity(ENGINE, state, last)
    assert [a.rule for a in first.alerts] == ["bulk_sim_opener"] and first.listings
    stored = IdentityState.from_json(first.state.to_json())  # as a restarted worker reads it
    again = at_identity(ENGINE, stored, last, now=NOW + timedelta(hours=1))
    assert again.duplicate
    assert again.alerts == first.alerts  # same ids, same content, same detected_at
    assert again.listings == first.listings
    assert again.state is not None
    assert len(again.state.sims) == 5 and len(again.state.recent_alerts) == 1


def test_a_redelivered_event_that_sent_nothing_sends_nothing() -> None:
    first, second = burst("mallory", 2)
    state = at_identity(ENGINE, None, first).state
    state = at_identity(ENGINE, state, second).state
    again = at_identity(ENGINE, state, first)
    assert again.duplicate and again.alerts == [] and again.listings == []


def test_a_redelivered_account_opening_sends_its_alert_again() -> None:
    opening = account_open("mallory", T0)
    account, address = opening.account, Address("account", opening.account, "open")
    state = None
    for n in range(1, 6):  # read before the opening: the opening completes the pattern
        incoming = transfer(f"s{n}", account, 100, T0 + timedelta(hours=1, minutes=n), n=n)
        state = ENGINE.apply(Address("account", account, "in"), state, incoming, NOW).state
    first = ENGINE.apply(address, state, opening, NOW)
    assert [a.rule for a in first.alerts] == ["new_account_velocity", "payment_to_flagged"]
    again = ENGINE.apply(address, first.state, opening, NOW)
    assert again.duplicate and again.alerts == first.alerts


def test_what_was_sent_is_kept_as_long_as_the_subjects_longest_kept_records() -> None:
    *before, last = burst("mallory", 5)
    state = None
    for event in before:
        state = at_identity(ENGINE, state, event).state
    state = at_identity(ENGINE, state, last).state
    assert isinstance(state, IdentityState) and state.sent
    policy = ENGINE.policy
    longest = max(policy.bulk_sim_opener.window, policy.bulk_company_accounts.window)
    forgotten_at = to_ms(last.occurred_at + longest + policy.allowed_lateness)
    kept = ENGINE.expire("identity", state, forgotten_at - 1)
    assert kept is not None and kept.sent
    gone = ENGINE.expire("identity", kept, forgotten_at)
    assert gone is not None  # the self-listing keeps the identity
    assert not gone.sent


def _record(
    state: SubjectState | None, who: str, entry: WatchlistEntry | None, offset: int
) -> Outcome:
    """Apply a watchlist record read at `offset` of watchlist/0."""
    update = WatchlistUpdate(identity(who), entry)
    address = Address("identity", identity(who), "listing")
    return ENGINE.apply(address, state, update, NOW, origin="watchlist/0", offset=offset)


def test_a_tombstone_read_again_does_not_lift_a_listing_made_after_it() -> None:
    """A worker crashed after applying a tombstone and the burst after it: read again, the
    tombstone must not lift duanka's own listing of that burst."""
    state = _record(None, "mallory", listing("mallory", T0 - timedelta(days=9)), 3).state
    state = _record(state, "mallory", None, 7).state
    for event in burst("mallory", 5):
        outcome = at_identity(ENGINE, state, event)
        state = outcome.state
    assert isinstance(state, IdentityState) and state.listing is not None
    own = state.listing
    again = _record(state, "mallory", None, 7)
    assert again.duplicate and isinstance(again.state, IdentityState)
    assert again.state.listing == own
    older = _record(again.state, "mallory", listing("mallory", T0 - timedelta(days=9)), 3)
    assert older.duplicate and older.alerts == []
    later = _record(older.state, "mallory", None, 8)  # a new tombstone still lifts it
    assert not later.duplicate and isinstance(later.state, IdentityState)
    assert later.state.listing is None


def test_duanka_s_own_listing_read_back_after_a_later_one_changes_nothing() -> None:
    """duanka lists someone for a burst, then again for a later one; the first listing comes
    back through `watchlist` after the second: it alerts nothing, as replay, which takes
    it back at once, does not."""
    state = None
    sims = burst("mallory", 5)
    first = None
    for event in sims:
        outcome = at_identity(ENGINE, state, event)
        first = first or (outcome.listings[0] if outcome.listings else None)
        state = outcome.state
    opens = [account_open("mallory", T0 + timedelta(days=1, hours=n), n=n) for n in range(3)]
    for event in opens:
        state = at_identity(ENGINE, state, event).state
    assert isinstance(state, IdentityState) and first is not None
    assert state.listing is not None and state.listing.reason != first.reason
    back = _record(state, "mallory", first, 12)
    assert back.duplicate and back.alerts == []
    assert isinstance(back.state, IdentityState) and back.state.listing == state.listing


def test_a_tombstone_that_lifted_nothing_is_known_when_read_again_after_a_listing() -> None:
    """The first record about someone is a tombstone, which finds nothing to lift; a burst
    then lists them; read again after a crash, the tombstone lifts nothing."""
    first = _record(None, "mallory", None, 1)
    assert first.duplicate and first.state is not None  # kept: where it was read
    state = first.state
    for event in burst("mallory", 5):
        state = at_identity(ENGINE, state, event).state
    assert isinstance(state, IdentityState) and state.listing is not None
    again = _record(state, "mallory", None, 1)
    assert again.duplicate and isinstance(again.state, IdentityState)
    assert again.state.listing == state.listing


def test_an_event_read_again_after_a_long_hold_is_recognised() -> None:
    """A subject partition's commit stays behind an event held for its turn while the
    partition applies two days of other events; read again from the commit, the events
    applied meanwhile are recognised: what is forgotten (here by the expiry sweep) is
    forgotten against the watermark of what the commit has passed (`CommittedWatermark`),
    not of everything applied."""
    watermark = CommittedWatermark({"account-opens": 1, "transfers": 1})
    states = Subjects("account", Policy().in_ms())  # as a worker's batch holds them
    into = transfer("s1", "ccb:a", 100, T0 + timedelta(hours=1), n=1)
    later: list[Transfer | AccountOpen] = [
        transfer(f"s{n}", "ccb:b", 100, T0 + n * timedelta(hours=2), n=n)
        if n % 2
        else account_open(f"p{n}", T0 + n * timedelta(hours=2), n=n)
        for n in range(2, 26)
    ]

    def read(offset: int, event: Transfer | AccountOpen, committed: int = 1) -> list[Applied]:
        """Apply a message; the commit waits at the transfer into ccb:a (held, say)."""
        watermark.committed(committed)  # as each batch learns it (`SubjectPartitions`)
        outcomes = []
        for kind, _, forward in forwards_of(1, event, TOPIC_OF[type(event)], 0, offset, 0):
            if kind == "account" and forward.stream != "out":
                outcomes.append(apply_forward(states, kind, forward, offset, watermark, NOW))
        return outcomes

    def sweep() -> None:
        settled = watermark.value("account")
        for key in states.ids() if settled is not None else ():
            expire_held(states, key, settled)

    for offset, event in enumerate([account_open("mallory", T0), into, *later]):
        read(offset, event)
    sweep()
    assert "ccb:a" in states
    assert [o.duplicate for o in read(1, into)] == [True]  # read again after a rebalance
    end = len(later) + 2
    read(end, transfer("s99", "ccb:b", 100, T0 + 52 * timedelta(hours=1)), committed=end)
    assert watermark.value("account") == to_ms(T0 + 48 * timedelta(hours=1))  # all committed
    sweep()
    assert "ccb:a" not in states
