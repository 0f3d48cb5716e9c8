"""`bulk_account_opener` (>= 3 personal/payment accounts in 7 days) and
`bulk_company_accounts` (>= 2 companies' corporate accounts in 30 days)."""

from datetime import timedelta

from duanka.detector.core.policy import Policy
from tests.factories import T0, account_open, activation, alerts_in_order, identity, rules_of

WEEK = timedelta(days=7)
MONTH = timedelta(days=30)


def test_two_accounts_do_not_fire_three_do() -> None:
    opens = [
        account_open("farmer", T0 + timedelta(days=i), n=i, source=bank)
        for i, bank in enumerate(["icbc", "ccb", "abc"])
    ]
    assert rules_of(alerts_in_order(opens[:2]), "bulk_account_opener") == []
    [alert] = rules_of(alerts_in_order(opens), "bulk_account_opener")
    assert alert.trigger_event_id == opens[2].event_id
    assert alert.severity == "high"
    assert alert.evidence.count == 3 and alert.evidence.distinct == 3
    assert {(a.action, a.target, a.institution) for a in alert.actions} == {
        *(("freeze_account", o.account, o.source) for o in opens),
        ("deny_new_services", identity("farmer"), None),
    }


def test_payment_accounts_count_corporate_do_not() -> None:
    opens = [
        account_open("farmer", T0, n=1, kind="payment", source="alipay"),
        account_open("farmer", T0 + timedelta(hours=1), n=2, kind="corporate"),
        account_open("farmer", T0 + timedelta(hours=2), n=3, kind="personal"),
    ]
    assert rules_of(alerts_in_order(opens), "bulk_account_opener") == []
    more = account_open("farmer", T0 + timedelta(hours=3), n=4, kind="payment", source="tenpay")
    assert len(rules_of(alerts_in_order([*opens, more]), "bulk_account_opener")) == 1


def test_account_opening_window_edge_is_exclusive() -> None:
    first = account_open("farmer", T0, n=1)
    second = account_open("farmer", T0 + timedelta(days=3), n=2)
    on_edge = account_open("farmer", T0 + WEEK, n=3)
    assert rules_of(alerts_in_order([first, second, on_edge]), "bulk_account_opener") == []
    inside = account_open("farmer", T0 + WEEK - timedelta(milliseconds=1), n=3)
    assert len(rules_of(alerts_in_order([first, second, inside]), "bulk_account_opener")) == 1


def test_account_farmer_is_self_listed_and_then_watchlisted() -> None:
    opens = [account_open("farmer", T0 + timedelta(hours=i), n=i) for i in range(3)]
    later = activation("farmer", T0 + timedelta(days=1))
    alerts = alerts_in_order([*opens, later])
    assert [a.rule for a in alerts] == ["bulk_account_opener", "watchlisted_identity"]


def test_two_companies_fire_one_company_twice_does_not() -> None:
    same = [
        account_open("rep", T0, n=1, kind="corporate", company="91110000AAA"),
        account_open(
            "rep",
            T0 + timedelta(days=2),
            n=2,
            kind="corporate",
            company="91110000AAA",
            source="ccb",
        ),
    ]
    assert rules_of(alerts_in_order(same), "bulk_company_accounts") == []
    other = account_open(
        "rep", T0 + timedelta(days=29), n=3, kind="corporate", company="91110000BBB"
    )
    [alert] = rules_of(alerts_in_order([*same, other]), "bulk_company_accounts")
    assert alert.evidence.distinct == 2
    assert alert.trigger_event_id == other.event_id
    assert {a.action for a in alert.actions} == {"review"}
    assert {a.target for a in alert.actions} == {o.account for o in [*same, other]}
    assert "for 2 companies within 30 days" in alert.summary


def test_companies_thirty_days_apart_do_not_fire() -> None:
    opens = [
        account_open("rep", T0, n=1, kind="corporate"),
        account_open("rep", T0 + MONTH, n=2, kind="corporate"),
    ]
    assert rules_of(alerts_in_order(opens), "bulk_company_accounts") == []


def test_company_accounts_self_list_the_representative() -> None:
    opens = [account_open("rep", T0 + timedelta(days=i), n=i, kind="corporate") for i in range(2)]
    later = account_open("rep", T0 + timedelta(days=5), n=9)
    rules = [a.rule for a in alerts_in_order([*opens, later])]
    assert rules == ["bulk_company_accounts", "watchlisted_identity"]


def test_thresholds_come_from_the_policy() -> None:
    policy = Policy.model_validate({"bulk_account_opener": {"min_accounts": 2}})
    opens = [account_open("farmer", T0 + timedelta(hours=i), n=i) for i in range(2)]
    assert len(rules_of(alerts_in_order(opens, policy), "bulk_account_opener")) == 1
