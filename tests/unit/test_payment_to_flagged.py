"""`payment_to_flagged`: every incoming payment to an account a mule rule flagged in
(t - flag_ttl, t] is warned to the sender's institution."""

from datetime import datetime, timedelta

import orjson

from duanka.detector.core.clock import to_ms
from duanka.detector.core.engine import Engine
from duanka.detector.core.policy import Policy
from duanka.detector.core.state import AccountState, Flag
from duanka.schemas.dispositions import Disposition
from tests.factories import T0, account_open, alerts_in_order, rules_of, transfer

COLLECTOR = "icbc:collector-1"
RULE = "payment_to_flagged"
HOUR = timedelta(hours=1)
MS = timedelta(milliseconds=1)
TTL = Policy().payment_to_flagged.flag_ttl


def victims(count: int, first: int = 0) -> list:
    """Payments into the collector, an hour apart from T0: the tenth raises mule_fan_in."""
    return [
        transfer(f"victim-{n}", COLLECTOR, 20_000, T0 + n * HOUR, n=n)
        for n in range(first, first + count)
    ]


def test_the_payment_that_raises_the_flag_and_each_later_one_are_warned() -> None:
    events = [*victims(10), transfer("victim-late", COLLECTOR, 30_000, T0 + 20 * HOUR, n=99)]
    alerts = alerts_in_order(events)
    [flag] = rules_of(alerts, "mule_fan_in")
    warned = rules_of(alerts, "payment_to_flagged")
    assert [a.trigger_event_id for a in warned] == [events[9].event_id, events[10].event_id]
    for alert in warned:
        assert alert.subject.kind == "account" and alert.subject.id == COLLECTOR
        assert alert.evidence.flag_alert_id == flag.alert_id
        assert alert.severity == "high"
    assert [(a.action, a.target, a.institution) for a in warned[1].actions] == [
        ("warn_customer", "victim-late", "icbc")
    ]
    assert warned[1].evidence.counterparties == ["victim-late"]
    assert warned[1].evidence.amount_minor == 30_000
    assert "warn the customer" in warned[1].summary


def test_the_flag_lasts_flag_ttl_from_its_window_end_exclusive() -> None:
    flagged_at = T0 + 9 * HOUR
    inside = transfer("victim-a", COLLECTOR, 1_000, flagged_at + TTL - MS, n=50)
    outside = transfer("victim-b", COLLECTOR, 1_000, flagged_at + TTL, n=51)
    warned = rules_of(alerts_in_order([*victims(10), inside, outside]), "payment_to_flagged")
    assert [a.trigger_event_id for a in warned][-1] == inside.event_id
    assert outside.event_id not in {a.trigger_event_id for a in warned}


def test_payments_before_the_flag_are_not_warned() -> None:
    warned = rules_of(alerts_in_order(victims(10)), "payment_to_flagged")
    assert [a.trigger_event_id for a in warned] == [victims(10)[9].event_id]


def test_an_outgoing_flag_reaches_only_payments_after_it() -> None:
    mule = "icbc:mule-1"
    minute = timedelta(minutes=1)
    events = [
        transfer("victim-1", mule, 300_000, T0, n=1),
        transfer("victim-2", mule, 300_000, T0 + 10 * minute, n=2),
        transfer(mule, "cashout-1", 500_000, T0 + 40 * minute, n=3),
        transfer("victim-3", mule, 100_000, T0 + 50 * minute, n=4),
    ]
    alerts = alerts_in_order(events)
    [flag] = rules_of(alerts, "mule_pass_through")
    [warned] = rules_of(alerts, "payment_to_flagged")
    assert warned.trigger_event_id == events[3].event_id
    assert warned.evidence.flag_alert_id == flag.alert_id


def test_a_flag_raised_by_a_later_event_warns_the_payments_already_applied() -> None:
    """An account's opening read after its first transfers: new_account_velocity then fires
    at the fifth, and the fifth and sixth, applied before the flag was known, are warned
    with the ids in-order replay gives them."""
    minute = timedelta(minutes=1)
    opening = account_open("holder", T0, account=COLLECTOR)
    payments = [
        transfer(f"victim-{n}", COLLECTOR, 20_000, T0 + (n + 1) * minute, n=n) for n in range(6)
    ]
    in_order = rules_of(alerts_in_order([opening, *payments]), "payment_to_flagged")
    opened_late = rules_of(alerts_in_order([*payments, opening]), "payment_to_flagged")
    assert [a.trigger_event_id for a in in_order] == [p.event_id for p in payments[4:]]
    assert [a.alert_id for a in opened_late] == [a.alert_id for a in in_order]
    assert {a.evidence.holder for a in opened_late} == {opening.identity}


def test_no_flag_no_warning() -> None:
    assert rules_of(alerts_in_order(victims(9)), "payment_to_flagged") == []


def test_a_flag_keeps_its_account_until_no_payment_in_time_can_reach_it() -> None:
    engine = Engine(Policy())
    lateness = to_ms(T0 + Policy().allowed_lateness) - to_ms(T0)
    state = AccountState(flags=[Flag(to_ms(T0), "0" * 32, "mule_fan_in")])
    reach = to_ms(T0 + TTL) + lateness  # from here, a payment at T0 + TTL - 1 ms is late
    assert engine.expire("account", state, reach - 1) is state
    assert engine.expire("account", state, reach) is None


def test_flags_go_through_the_state_encoding() -> None:
    state = AccountState(
        flags=[Flag(5, "a" * 32, "mule_fan_in"), Flag(9, "b" * 32, "mule_fan_out")]
    )
    decoded = AccountState.from_json(orjson.loads(orjson.dumps(state.to_json())))
    assert decoded.flags == state.flags and not decoded.is_empty()


def confirmed(alert_id: str, at: datetime, institution: str = "boc") -> Disposition:
    return Disposition(
        alert_id=alert_id, institution=institution, outcome="confirmed", decided_at=at
    )


def test_a_confirmed_mule_alert_flags_its_account_from_when_it_was_decided() -> None:
    """The fan-in flag ran out; the bank confirms the collector as a mule a week later, and
    every payment from then on (within the flag's time to live) is warned again, naming
    the confirmed alert. A payment just before the decision is not."""
    [fan_in] = rules_of(alerts_in_order(victims(10)), "mule_fan_in")
    decided = T0 + TTL + 7 * timedelta(days=1)
    before = transfer("victim-before", COLLECTOR, 1_000, decided - MS, n=60)
    at_decision = transfer("victim-at", COLLECTOR, 1_000, decided, n=61)
    last = transfer("victim-last", COLLECTOR, 1_000, decided + TTL - MS, n=62)
    beyond = transfer("victim-beyond", COLLECTOR, 1_000, decided + TTL, n=63)
    events = [*victims(10), before, confirmed(fan_in.alert_id, decided), at_decision, last, beyond]
    warned = rules_of(alerts_in_order(events), "payment_to_flagged")
    late = [a for a in warned if a.window.end > T0 + TTL]
    assert [a.trigger_event_id for a in late] == [at_decision.event_id, last.event_id]
    assert {a.evidence.flag_alert_id for a in late} == {fan_in.alert_id}
    assert "mule_fan_in confirmed by boc" in late[0].summary


def test_a_confirmation_warns_the_payments_recorded_before_it_arrived() -> None:
    """The same warnings whether the confirmation comes before the payments it reaches or
    after them: the order events arrive in does not matter. Each names the holder the
    confirmed alert named, though the account has long forgotten its opening."""
    opening = account_open("mule-holder", T0 - HOUR, account=COLLECTOR)
    [fan_in] = rules_of(alerts_in_order([opening, *victims(10)]), "mule_fan_in")
    decided = T0 + 2 * TTL
    payments = [
        transfer(f"victim-x{n}", COLLECTOR, 1_000, decided + n * HOUR, n=70 + n) for n in range(3)
    ]
    confirmation = confirmed(fan_in.alert_id, decided)
    elsewhere = transfer("victim-z", "icbc:other", 1_000, decided + TTL, n=90)  # time moves on
    first = alerts_in_order([opening, *victims(10), confirmation, *payments, elsewhere])
    after = alerts_in_order([opening, *victims(10), *payments, elsewhere, confirmation])
    warnings = [
        {a.alert_id: a.model_dump(exclude={"detected_at"}) for a in rules_of(found, RULE)}
        for found in (first, after)
    ]
    assert warnings[0] == warnings[1]
    late = [w for w in warnings[0].values() if w["evidence"]["flag_alert_id"] == fan_in.alert_id]
    assert [w["trigger_event_id"] for w in late][-3:] == [p.event_id for p in payments]
    assert {w["evidence"]["holder"] for w in warnings[0].values()} == {opening.identity}


def test_a_false_positive_or_a_confirmation_of_another_kind_flags_nothing() -> None:
    alerts = alerts_in_order(victims(10))
    [fan_in] = rules_of(alerts, "mule_fan_in")
    decided = T0 + 2 * TTL
    payment = transfer("victim-y", COLLECTOR, 1_000, decided + HOUR, n=80)
    cleared = Disposition(
        alert_id=fan_in.alert_id, institution="boc", outcome="false_positive", decided_at=decided
    )
    after = alerts_in_order([*victims(10), cleared, payment])
    assert len(rules_of(after, "payment_to_flagged")) == len(rules_of(alerts, "payment_to_flagged"))


def test_flags_of_one_alert_naming_a_holder_and_none_are_kept_in_order() -> None:
    """A reader out of order (the core benchmark's) can raise one alert before and after the
    account's opening is seen: its two flags differ only in the holder, and must not crash
    the order they are kept in."""
    state = AccountState()
    state.flag(Flag(1_000, "a" * 32, "mule_fan_in", "holder-1"))
    state.flag(Flag(1_000, "a" * 32, "mule_fan_in", None))
    state.flag(Flag(1_000, "a" * 32, "mule_fan_in", None))
    assert [f.holder for f in state.flags] == [None, "holder-1"]
