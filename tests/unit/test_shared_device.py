"""`shared_device`: >= 5 distinct identities on one device within 24 hours."""

from datetime import timedelta

from tests.factories import T0, account_open, activation, alerts_in_order, rules_of

DAY = timedelta(hours=24)
MODEM = "imei:860000000000001"


def on_modem(people: int, step: timedelta = timedelta(hours=1), start=T0) -> list:
    return [activation(f"person-{i}", start + i * step, n=i, device=MODEM) for i in range(people)]


def test_four_identities_do_not_fire_five_do() -> None:
    assert rules_of(alerts_in_order(on_modem(4)), "shared_device") == []
    events = on_modem(5)
    [alert] = rules_of(alerts_in_order(events), "shared_device")
    assert alert.subject.kind == "device" and alert.subject.id == MODEM
    assert alert.trigger_event_id == events[4].event_id
    assert alert.evidence.distinct == 5
    assert ("review", MODEM, None) in {(a.action, a.target, a.institution) for a in alert.actions}
    blocked = {(a.target, a.institution) for a in alert.actions if a.action == "block_msisdn"}
    assert blocked == {(e.msisdn, e.source) for e in events}


def test_one_identity_many_times_is_one_identity() -> None:
    events = [activation("same", T0 + timedelta(minutes=i), n=i, device=MODEM) for i in range(9)]
    assert rules_of(alerts_in_order(events), "shared_device") == []


def test_account_openings_count_and_their_numbers_are_blocked_everywhere() -> None:
    events = [
        *on_modem(3),
        account_open("opener-1", T0 + timedelta(hours=5), msisdn="+8613911112222", device=MODEM),
        account_open("opener-2", T0 + timedelta(hours=6), device=MODEM),
    ]
    [alert] = rules_of(alerts_in_order(events), "shared_device")
    assert ("block_msisdn", "+8613911112222", None) in {
        (a.action, a.target, a.institution) for a in alert.actions
    }


def test_identities_a_day_apart_do_not_fire() -> None:
    assert rules_of(alerts_in_order(on_modem(5, step=DAY / 4)), "shared_device") == []  # 0..24h
    assert (
        len(
            rules_of(
                alerts_in_order(on_modem(5, step=DAY / 4 - timedelta(milliseconds=1))),
                "shared_device",
            )
        )
        == 1
    )


def test_once_per_burst() -> None:
    assert (
        len(rules_of(alerts_in_order(on_modem(12, step=timedelta(minutes=5))), "shared_device"))
        == 1
    )


def test_account_openings_read_days_ahead_do_not_forget_activations_still_to_count() -> None:
    """The opens topic is read days ahead of the activations: an opening on the device three
    days later must not drop the activations a late-read fifth one completes a burst with."""
    sims = on_modem(5)
    ahead = account_open("opener", T0 + 3 * DAY, device=MODEM)
    events = [*sims[:4], ahead, sims[4]]
    [alert] = rules_of(alerts_in_order(events), "shared_device")
    assert alert.trigger_event_id == sims[4].event_id
