"""`borrowed_phone`: an account opened with a number whose latest activation (within 180
days) was by a different identity; every event."""

from datetime import timedelta

from tests.factories import T0, account_open, activation, alerts_in_order, rules_of

NUMBER = "+8613700001111"
LOOKBACK = timedelta(days=180)


def test_account_opened_with_someone_elses_number() -> None:
    events = [
        activation("owner", T0, msisdn=NUMBER),
        account_open("mule", T0 + timedelta(days=3), msisdn=NUMBER),
    ]
    [alert] = rules_of(alerts_in_order(events), "borrowed_phone")
    assert alert.subject.kind == "msisdn" and alert.subject.id == NUMBER
    assert alert.severity == "medium"
    assert alert.trigger_event_id == events[1].event_id
    assert [(a.action, a.target, a.institution) for a in alert.actions] == [
        ("review", events[1].account, events[1].source)
    ]


def test_own_number_is_fine() -> None:
    events = [
        activation("owner", T0, msisdn=NUMBER),
        account_open("owner", T0 + timedelta(days=3), msisdn=NUMBER),
    ]
    assert rules_of(alerts_in_order(events), "borrowed_phone") == []


def test_only_the_latest_activation_counts() -> None:
    events = [
        activation("previous", T0, msisdn=NUMBER),
        activation("owner", T0 + timedelta(days=1), msisdn=NUMBER),
        account_open("owner", T0 + timedelta(days=2), msisdn=NUMBER),
    ]
    assert rules_of(alerts_in_order(events), "borrowed_phone") == []


def test_lookback_edge_is_exclusive() -> None:
    old = [
        activation("owner", T0, msisdn=NUMBER),
        account_open("mule", T0 + LOOKBACK, msisdn=NUMBER),
    ]
    assert rules_of(alerts_in_order(old), "borrowed_phone") == []
    recent = [
        activation("owner", T0, msisdn=NUMBER),
        account_open("mule", T0 + LOOKBACK - timedelta(milliseconds=1), msisdn=NUMBER),
    ]
    assert len(rules_of(alerts_in_order(recent), "borrowed_phone")) == 1


def test_every_event_fires() -> None:
    events = [
        activation("owner", T0, msisdn=NUMBER),
        *(account_open("mule", T0 + timedelta(hours=i), n=i, msisdn=NUMBER) for i in range(1, 4)),
    ]
    assert len(rules_of(alerts_in_order(events), "borrowed_phone")) == 3


def test_activation_arriving_after_the_opening_gives_the_same_alert() -> None:
    activation_first = [
        activation("owner", T0, msisdn=NUMBER),
        account_open("mule", T0 + timedelta(minutes=30), msisdn=NUMBER),
    ]
    in_order = rules_of(alerts_in_order(activation_first), "borrowed_phone")
    reversed_ = rules_of(alerts_in_order(activation_first[::-1]), "borrowed_phone")
    assert [a.alert_id for a in reversed_] == [a.alert_id for a in in_order]
