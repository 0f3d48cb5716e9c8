"""What an alert's evidence ties together, read from its subject's state (`core.ties`)."""

from collections.abc import Iterable
from datetime import timedelta

import pytest

from duanka.detector.core.engine import Engine
from duanka.detector.core.intake import Admitted
from duanka.detector.core.policy import Policy
from duanka.detector.core.ties import Tie, decode_ties, encode_ties, ties_of
from duanka.replay.replayer import Replayer
from duanka.schemas.alerts import Alert
from tests.factories import T0, account_open, activation, identity, transfer

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
MODEM = "imei:860000000000001"


def replayed(events: Iterable[Admitted]) -> tuple[Replayer, list[Alert]]:
    replayer = Replayer(Engine(Policy()))
    alerts = [alert for event in events for alert in replayer.apply(event)]
    return replayer, alerts


def ties_of_rule(events: Iterable[Admitted], rule: str) -> list[Tie]:
    """The ties of the one alert of `rule`, from its subject's state at the end."""
    replayer, alerts = replayed(events)
    [alert] = [a for a in alerts if a.rule == rule]
    state = replayer.states.get((alert.subject.kind, alert.subject.id))
    return ties_of(alert, state)


def test_a_bulk_opener_activated_each_number_on_its_device_at_its_outlet() -> None:
    events = [
        activation("seller", T0 + n * HOUR, n=n, device=f"phone-{n % 2}", outlet="shop-7")
        for n in range(5)
    ]
    ties = ties_of_rule(events, "bulk_sim_opener")
    seller = ("identity", identity("seller"))
    activated = {(t.source, t.target) for t in ties if t.relation == "activated"}
    assert activated == {(seller, ("msisdn", e.msisdn)) for e in events}
    assert {t.target for t in ties if t.relation == "device"} == {
        ("device", "phone-0"),
        ("device", "phone-1"),
    }
    assert {(t.source, t.target) for t in ties if t.relation == "outlet"} == {
        (seller, ("outlet", "shop-7"))
    }
    assert {t.event_id for t in ties} == {e.event_id for e in events}


def test_a_shared_device_ties_each_person_to_what_they_opened_on_it() -> None:
    events = [
        *(activation(f"person-{i}", T0 + i * HOUR, device=MODEM) for i in range(3)),
        account_open("opener-1", T0 + 4 * HOUR, msisdn="+8613911112222", device=MODEM),
        account_open("opener-2", T0 + 5 * HOUR, kind="corporate", device=MODEM),
    ]
    ties = ties_of_rule(events, "shared_device")
    relations = {(t.source, t.relation, t.target) for t in ties}
    first = events[0]
    person = ("identity", first.identity)
    assert (person, "activated", ("msisdn", first.msisdn)) in relations
    assert (person, "device", ("device", MODEM)) in relations
    opener = ("identity", identity("opener-1"))
    account = ("account", events[3].account)
    assert (opener, "opened", account) in relations
    assert (account, "number", ("msisdn", "+8613911112222")) in relations
    corporate = ("account", events[4].account)
    assert (corporate, "company", ("company", events[4].company)) in relations
    assert len({t.source for t in ties if t.relation == "device"}) == 5


def test_money_is_tied_from_payer_to_payee_with_its_amount_and_the_holder_to_the_account() -> None:
    mule = "icbc:mule-1"
    events = [
        account_open("holder", T0 - HOUR, account=mule),
        transfer("victim-1", mule, 300_000, T0, n=1),
        transfer("victim-2", mule, 200_000, T0 + 10 * MINUTE, n=2),
        transfer(mule, "cashout-1", 400_000, T0 + 40 * MINUTE, n=3),
        transfer(mule, "abroad-1", 1_000, T0 + 41 * MINUTE, n=4, currency="USD"),
    ]
    ties = ties_of_rule(events, "mule_pass_through")
    paid = {(t.source[1], t.target[1], t.amount_minor) for t in ties if t.relation == "paid"}
    assert paid == {
        ("victim-1", mule, 300_000),
        ("victim-2", mule, 200_000),
        (mule, "cashout-1", 400_000),
    }
    assert (
        Tie(
            ("identity", identity("holder")),
            ("account", mule),
            "opened",
            events[0].event_id,
            int((T0 - HOUR).timestamp() * 1000),
        )
        in ties
    )


def test_a_payment_in_another_currency_is_tied_without_an_amount() -> None:
    mule = "icbc:mule-2"
    events = [
        transfer(f"sender-{n}", mule, 1_000, T0 + n * HOUR, n=n, currency="USD") for n in range(10)
    ]
    ties = ties_of_rule(events, "mule_fan_in")
    assert len(ties) == 10
    assert {t.amount_minor for t in ties} == {None}


def test_an_alert_whose_records_the_state_no_longer_holds_ties_nothing() -> None:
    events = [activation("seller", T0 + n * HOUR, n=n) for n in range(5)]
    _, [alert] = replayed(events)
    assert ties_of(alert, None) == []


def test_ties_read_back_as_written() -> None:
    events = [activation("seller", T0 + n * HOUR, n=n, device="d", outlet="o") for n in range(5)]
    ties = ties_of_rule(events, "bulk_sim_opener")
    assert decode_ties(encode_ties(ties)) == ties


@pytest.mark.parametrize("data", [b"{}", b"[[1, 2]]", b"not json", b"[1]"])
def test_anything_else_is_not_ties(data: bytes) -> None:
    with pytest.raises(ValueError, match="not ties"):
        decode_ties(data)
