"""Account rules: `mule_pass_through`, `mule_fan_in`, `mule_fan_out`,
`new_account_velocity`."""

from datetime import timedelta

from duanka.detector.core.policy import Policy
from tests.factories import T0, account_open, alerts_in_order, rules_of, transfer

MULE = "icbc:mule-1"
HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)


def minutes(m: float) -> timedelta:
    return timedelta(minutes=m)


# -- mule_pass_through ------------------------------------------------------------------


def test_pass_through_fires_at_the_outgoing_transfer() -> None:
    events = [
        transfer("victim-1", MULE, 300_000, T0, n=1),
        transfer("victim-2", MULE, 200_000, T0 + minutes(10), n=2),
        transfer(MULE, "cashout-1", 400_000, T0 + minutes(40), n=3),
    ]
    [alert] = rules_of(alerts_in_order(events), "mule_pass_through")
    assert alert.subject.id == MULE
    assert alert.trigger_event_id == events[2].event_id
    assert alert.evidence.amount_minor == 500_000
    assert [(a.action, a.target, a.institution) for a in alert.actions] == [
        ("freeze_account", MULE, "icbc")
    ]


def test_pass_through_needs_enough_incoming() -> None:
    events = [
        transfer("victim-1", MULE, 499_999, T0, n=1),
        transfer(MULE, "cashout-1", 499_999, T0 + minutes(5), n=2),
    ]
    assert rules_of(alerts_in_order(events), "mule_pass_through") == []


def test_pass_through_needs_eighty_percent_out() -> None:
    incoming = transfer("victim-1", MULE, 1_000_000, T0, n=1)
    under = transfer(MULE, "cashout-1", 799_999, T0 + minutes(5), n=2)
    assert rules_of(alerts_in_order([incoming, under]), "mule_pass_through") == []
    exactly = transfer(MULE, "cashout-1", 800_000, T0 + minutes(5), n=2)
    assert len(rules_of(alerts_in_order([incoming, exactly]), "mule_pass_through")) == 1


def test_pass_through_window_is_one_hour() -> None:
    incoming = transfer("victim-1", MULE, 1_000_000, T0, n=1)
    out = transfer(MULE, "cashout-1", 1_000_000, T0 + HOUR, n=2)
    assert rules_of(alerts_in_order([incoming, out]), "mule_pass_through") == []


def test_other_currencies_do_not_count_in_sums() -> None:
    events = [
        transfer("victim-1", MULE, 1_000_000, T0, n=1, currency="USD"),
        transfer(MULE, "cashout-1", 1_000_000, T0 + minutes(5), n=2),
    ]
    assert rules_of(alerts_in_order(events), "mule_pass_through") == []


def test_late_incoming_completes_an_earlier_outgoing() -> None:
    events = [
        transfer("victim-1", MULE, 1_000_000, T0, n=1),
        transfer(MULE, "cashout-1", 900_000, T0 + minutes(20), n=2),
    ]
    in_order = rules_of(alerts_in_order(events), "mule_pass_through")
    reversed_ = rules_of(alerts_in_order(events[::-1]), "mule_pass_through")
    assert [a.alert_id for a in reversed_] == [a.alert_id for a in in_order]
    assert len(in_order) == 1


# -- mule_fan_in / mule_fan_out ---------------------------------------------------------


HALF_HOUR = timedelta(minutes=30)


def fan_in(senders: int, step: timedelta = HALF_HOUR) -> list:
    return [transfer(f"victim-{i}", MULE, 10_000, T0 + i * step, n=i) for i in range(senders)]


def test_fan_in_nine_senders_do_not_fire_ten_do() -> None:
    assert rules_of(alerts_in_order(fan_in(9)), "mule_fan_in") == []
    events = fan_in(10)
    [alert] = rules_of(alerts_in_order(events), "mule_fan_in")
    assert alert.severity == "medium"
    assert alert.trigger_event_id == events[9].event_id
    assert alert.evidence.distinct == 10
    assert [(a.action, a.target, a.institution) for a in alert.actions] == [("review", MULE, "ccb")]


def test_fan_in_counts_distinct_senders() -> None:
    events = [transfer(f"victim-{i % 3}", MULE, 10_000, T0 + minutes(i), n=i) for i in range(20)]
    assert rules_of(alerts_in_order(events), "mule_fan_in") == []


def test_fan_in_window_is_a_day() -> None:
    assert rules_of(alerts_in_order(fan_in(10, step=DAY / 9)), "mule_fan_in") == []


def test_corporate_accounts_are_exempt_from_fan_in_and_out() -> None:
    shop = account_open("merchant", T0 - timedelta(days=30), kind="corporate", account=MULE)
    outs = [transfer(MULE, f"supplier-{i}", 10_000, T0 + minutes(i), n=i) for i in range(10)]
    alerts = alerts_in_order([shop, *fan_in(12), *outs])
    assert rules_of(alerts, "mule_fan_in") == [] and rules_of(alerts, "mule_fan_out") == []


def test_personal_accounts_are_not_exempt() -> None:
    person = account_open("someone", T0 - timedelta(days=30), account=MULE)
    assert len(rules_of(alerts_in_order([person, *fan_in(10)]), "mule_fan_in")) == 1


def test_fan_out_ten_receivers() -> None:
    outs = [transfer(MULE, f"cashout-{i}", 10_000, T0 + minutes(i), n=i) for i in range(10)]
    assert rules_of(alerts_in_order(outs[:9]), "mule_fan_out") == []
    [alert] = rules_of(alerts_in_order(outs), "mule_fan_out")
    assert alert.trigger_event_id == outs[9].event_id
    assert alert.actions[0].institution == "icbc"


def test_other_currencies_count_for_fan_in() -> None:
    events = [
        transfer(f"victim-{i}", MULE, 10_000, T0 + minutes(i), n=i, currency="USD")
        for i in range(10)
    ]
    assert len(rules_of(alerts_in_order(events), "mule_fan_in")) == 1


# -- new_account_velocity ---------------------------------------------------------------


def opened(at=T0, kind: str = "personal"):
    return account_open("new-holder", at, kind=kind, account=MULE)


def test_new_account_with_five_transfers_in_a_day() -> None:
    incoming = [transfer(f"s-{i}", MULE, 1_000, T0 + HOUR + minutes(i), n=i) for i in range(5)]
    assert rules_of(alerts_in_order([opened(), *incoming[:4]]), "new_account_velocity") == []
    [alert] = rules_of(alerts_in_order([opened(), *incoming]), "new_account_velocity")
    assert alert.trigger_event_id == incoming[4].event_id
    assert alert.actions[0].action == "freeze_account"


def test_new_account_with_a_large_sum() -> None:
    big = [
        transfer("s-1", MULE, 2_500_000, T0 + HOUR, n=1),
        transfer("s-2", MULE, 2_499_999, T0 + 2 * HOUR, n=2),
    ]
    assert rules_of(alerts_in_order([opened(), *big]), "new_account_velocity") == []
    enough = transfer("s-3", MULE, 1, T0 + 3 * HOUR, n=3)
    assert len(rules_of(alerts_in_order([opened(), *big, enough]), "new_account_velocity")) == 1


def test_accounts_older_than_seven_days_are_not_new() -> None:
    late = [
        transfer(f"s-{i}", MULE, 1_000, T0 + timedelta(days=7) + minutes(i + 1), n=i)
        for i in range(5)
    ]
    assert rules_of(alerts_in_order([opened(), *late]), "new_account_velocity") == []
    edge = [
        transfer(f"s-{i}", MULE, 1_000, T0 + timedelta(days=7) - minutes(4 - i), n=i)
        for i in range(5)
    ]
    assert len(rules_of(alerts_in_order([opened(), *edge]), "new_account_velocity")) == 1


def test_unknown_opening_is_not_new() -> None:
    incoming = [transfer(f"s-{i}", MULE, 1_000, T0 + minutes(i), n=i) for i in range(6)]
    assert rules_of(alerts_in_order(incoming), "new_account_velocity") == []


def test_opening_arriving_after_the_transfers_gives_the_same_alert() -> None:
    incoming = [transfer(f"s-{i}", MULE, 1_000, T0 + HOUR + minutes(i), n=i) for i in range(5)]
    in_order = rules_of(alerts_in_order([opened(), *incoming]), "new_account_velocity")
    opening_last = rules_of(alerts_in_order([*incoming, opened()]), "new_account_velocity")
    assert [a.alert_id for a in opening_last] == [a.alert_id for a in in_order]


def test_account_rule_thresholds_come_from_the_policy() -> None:
    policy = Policy.model_validate({"mule_fan_in": {"min_counterparties": 3}})
    assert len(rules_of(alerts_in_order(fan_in(3), policy), "mule_fan_in")) == 1
