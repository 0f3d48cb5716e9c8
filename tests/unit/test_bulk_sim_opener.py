"""`bulk_sim_opener`: >= 5 activations by one identity within (t - 7 days, t]."""

from datetime import timedelta

from duanka.detector.core.engine import Engine, Outcome
from duanka.detector.core.policy import BulkSimOpenerPolicy, Policy
from duanka.detector.core.state import IdentityState, SubjectState
from tests.factories import T0, activation, at_identity, burst, identity

WEEK = timedelta(days=7)


def run(events: list, engine: Engine | None = None) -> tuple[SubjectState | None, list[Outcome]]:
    engine = engine or Engine(Policy())
    state: SubjectState | None = None
    outcomes = []
    for event in events:
        outcome = at_identity(engine, state, event)
        state = outcome.state
        outcomes.append(outcome)
    return state, outcomes


def fired(outcomes: list[Outcome], rule: str = "bulk_sim_opener") -> list[int]:
    """Indices of the events on which the rule fired."""
    return [i for i, o in enumerate(outcomes) for a in o.alerts if a.rule == rule]


def test_four_activations_do_not_fire() -> None:
    _, outcomes = run(burst("alice", 4))
    assert fired(outcomes) == []


def test_fifth_activation_fires_with_it_as_trigger() -> None:
    events = burst("alice", 5)
    _, outcomes = run(events)
    assert fired(outcomes) == [4]
    alert = outcomes[4].alerts[0]
    assert alert.trigger_event_id == events[4].event_id
    assert alert.severity == "high"
    assert alert.subject.kind == "identity"
    assert alert.subject.id == identity("alice")
    assert alert.evidence.count == 5
    assert alert.evidence.distinct == 5
    assert alert.evidence.event_ids == [e.event_id for e in events]
    assert alert.window.start == events[4].occurred_at - WEEK
    assert alert.window.end == events[4].occurred_at
    assert "5 SIM cards" in alert.summary and "threshold 5" in alert.summary


def test_actions_block_each_number_at_its_carrier_and_deny_the_identity() -> None:
    events = [
        activation("alice", T0 + timedelta(hours=i), n=i, source=src)
        for i, src in enumerate(["cmcc", "cucc", "ctcc", "cmcc", "cucc"])
    ]
    _, outcomes = run(events)
    actions = outcomes[4].alerts[0].actions
    blocks = {(a.target, a.institution) for a in actions if a.action == "block_msisdn"}
    assert blocks == {(e.msisdn, e.source) for e in events}
    denials = [a for a in actions if a.action == "deny_new_services"]
    assert [(a.target, a.institution) for a in denials] == [(identity("alice"), None)]


def test_activation_exactly_seven_days_earlier_is_outside_the_window() -> None:
    first = activation("alice", T0, n=0)
    rest = [activation("alice", T0 + WEEK - timedelta(hours=4 - i), n=i + 1) for i in range(3)]
    last = activation("alice", T0 + WEEK, n=9)
    _, outcomes = run([first, *rest, last])
    assert fired(outcomes) == []  # (t - 7d, t] excludes the first


def test_activation_one_millisecond_inside_the_window_counts() -> None:
    first = activation("alice", T0 + timedelta(milliseconds=1), n=0)
    rest = [activation("alice", T0 + WEEK - timedelta(hours=4 - i), n=i + 1) for i in range(3)]
    last = activation("alice", T0 + WEEK, n=9)
    _, outcomes = run([first, *rest, last])
    assert fired(outcomes) == [4]


def test_one_alert_per_burst_until_the_suppression_ends() -> None:
    events = burst("alice", 5)
    fire_at = events[-1].occurred_at
    more = [activation("alice", fire_at + timedelta(days=d), n=10 + d) for d in range(1, 7)]
    just_before_end = activation("alice", fire_at + WEEK - timedelta(milliseconds=1), n=30)
    _, outcomes = run([*events, *more, just_before_end])
    assert fired(outcomes) == [4]


def test_fires_again_once_the_suppression_has_ended() -> None:
    events = burst("alice", 5)
    fire_at = events[-1].occurred_at
    later = burst("alice", 5, start=fire_at + WEEK - timedelta(hours=4), first_n=100)
    _, outcomes = run([*events, *later])
    # Suppressed until fire_at + 7d; the first event at or after it with 5 in its window fires.
    second = [i for i in fired(outcomes) if i > 4]
    assert second
    trigger = [*events, *later][second[0]]
    assert trigger.occurred_at >= fire_at + WEEK


def test_carriers_do_not_matter() -> None:
    events = [
        activation("alice", T0 + timedelta(hours=i), n=i, source=f"carrier-{i}") for i in range(5)
    ]
    _, outcomes = run(events)
    assert fired(outcomes) == [4]
    assert "at 5 carriers" in outcomes[4].alerts[0].summary


def test_identities_are_counted_apart() -> None:
    engine = Engine(Policy())
    alice, bob = run(burst("alice", 3), engine)[0], run(burst("bob", 3), engine)[0]
    assert alice is not None and bob is not None
    assert isinstance(alice, IdentityState) and isinstance(bob, IdentityState)
    assert len(alice.sims) == len(bob.sims) == 3


def test_out_of_order_activations_within_lateness_count() -> None:
    events = burst("alice", 5, step=timedelta(minutes=10))
    shuffled = [events[4], events[0], events[3], events[1], events[2]]
    _, outcomes = run(shuffled)
    assert fired(outcomes) == [4]
    alert = outcomes[4].alerts[0]
    # The trigger is the event that crossed the threshold in event time (the window's end),
    # as in order, though another event's arrival completed the burst.
    assert alert.trigger_event_id == events[4].event_id
    assert alert.alert_id == run(events)[1][4].alerts[0].alert_id
    assert alert.window.end == events[4].occurred_at  # the window in which it was crossed


def test_out_of_order_activation_crosses_a_window_ending_after_it() -> None:
    events = burst("alice", 5, step=timedelta(minutes=10))
    _, outcomes = run([events[0], *events[2:], events[1]])
    assert fired(outcomes) == [4]


def test_activation_later_than_allowed_lateness_is_not_counted() -> None:
    events = burst("alice", 4)
    late = activation("alice", events[-1].occurred_at - timedelta(hours=1, milliseconds=1), n=99)
    state, outcomes = run([*events, late])
    assert outcomes[-1].late
    assert fired(outcomes) == []
    assert isinstance(state, IdentityState) and len(state.sims) == 4


def test_activation_exactly_at_allowed_lateness_is_counted() -> None:
    events = burst("alice", 4)
    on_time = activation("alice", events[-1].occurred_at - timedelta(hours=1), n=99)
    _, outcomes = run([*events, on_time])
    assert not outcomes[-1].late
    assert fired(outcomes) == [4]


def test_redelivered_event_is_not_counted_twice() -> None:
    events = burst("alice", 4)
    _, outcomes = run([*events, events[2], events[3]])
    assert [o.duplicate for o in outcomes] == [False] * 4 + [True, True]
    assert fired(outcomes) == []


def test_thresholds_and_window_come_from_the_policy() -> None:
    policy = Policy(
        bulk_sim_opener=BulkSimOpenerPolicy(min_activations=3, window=timedelta(hours=2))
    )
    _, outcomes = run(burst("alice", 3, step=timedelta(minutes=59)), Engine(policy))
    assert fired(outcomes) == [2]
    _, outcomes = run(burst("bob", 3, step=timedelta(minutes=60)), Engine(policy))
    assert fired(outcomes) == []  # first and third are exactly 2 h apart


def test_state_forgets_activations_beyond_the_window_and_lateness() -> None:
    """The third activation, 2 h after T0, counts only for events before T0 + 2 h + W: once
    the watermark is a lateness past that, none of those can still be in time."""
    new = activation("alice", T0 + WEEK + timedelta(hours=3), n=50)
    for watermark, kept in ((new.occurred_at - timedelta(milliseconds=1), 2), (new.occurred_at, 1)):
        engine = Engine(Policy())
        old, _ = run(burst("alice", 3), engine)
        state = at_identity(engine, old, new, watermark=watermark).state
        assert isinstance(state, IdentityState)
        assert [a.event_id for a in state.sims][-kept:] == [r.event_id for r in state.sims]
        assert len(state.sims) == kept


def test_nothing_is_forgotten_without_a_watermark() -> None:
    state, _ = run([*burst("alice", 3), activation("alice", T0 + 5 * WEEK, n=50)])
    assert isinstance(state, IdentityState)
    assert len(state.sims) == 4


def test_alert_ids_are_deterministic_and_distinct_per_trigger() -> None:
    _, first = run(burst("alice", 5))
    _, again = run(burst("alice", 5))
    _, other = run(burst("bob", 5))
    assert first[4].alerts[0].alert_id == again[4].alerts[0].alert_id
    assert first[4].alerts[0].alert_id != other[4].alerts[0].alert_id
