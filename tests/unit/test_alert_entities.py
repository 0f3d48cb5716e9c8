"""Alerts of schema version 2 name their entities, the account holder and the
counterparties; version 1 alerts still read."""

from datetime import timedelta
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from duanka.detector.core.alerting import named_entities
from duanka.detector.core.state import (
    AccountState,
    DeviceState,
    DeviceUse,
    IdentityState,
    Leg,
    MsisdnState,
    NumberActivation,
    Opening,
    SimRecord,
)
from duanka.schemas.alerts import MAX_ENTITIES, Alert, Subject
from tests.factories import (
    T0,
    account_open,
    activation,
    alerts_in_order,
    identity,
    rules_of,
    transfer,
)

HOUR = timedelta(hours=1)
MODEM = "imei:860000000000001"


def test_a_bulk_opener_alert_names_the_numbers_devices_and_outlets_it_counted() -> None:
    events = [
        activation("seller", T0 + n * HOUR, n=n, device=f"phone-{n % 2}", outlet="shop-7")
        for n in range(5)
    ]
    [alert] = rules_of(alerts_in_order(events), "bulk_sim_opener")
    entities = alert.evidence.entities
    assert alert.schema_version == 2 and entities is not None
    assert entities.identities == [identity("seller")]
    assert entities.msisdns == sorted(e.msisdn for e in events)
    assert entities.devices == ["phone-0", "phone-1"]
    assert entities.outlets == ["shop-7"]
    assert entities.accounts == entities.companies == []
    assert alert.evidence.entity_counts is not None
    assert alert.evidence.entity_counts.msisdns == 5
    assert alert.evidence.holder is None and alert.evidence.counterparties == []


def test_a_shared_device_alert_names_people_numbers_accounts_and_companies() -> None:
    events = [
        *(
            activation(f"person-{i}", T0 + i * HOUR, device=MODEM, outlet="shop-1")
            for i in range(3)
        ),
        account_open("opener-1", T0 + 4 * HOUR, msisdn="+8613911112222", device=MODEM),
        account_open("opener-2", T0 + 5 * HOUR, kind="corporate", device=MODEM),
    ]
    [alert] = rules_of(alerts_in_order(events), "shared_device")
    entities = alert.evidence.entities
    assert entities is not None
    assert entities.devices == [MODEM]
    assert entities.identities == sorted(e.identity for e in events)
    assert entities.msisdns == sorted([*(e.msisdn for e in events[:3]), "+8613911112222"])
    assert entities.accounts == sorted([events[3].account, events[4].account])
    assert entities.companies == [events[4].company]
    assert entities.outlets == ["shop-1"]


def test_a_mule_alert_names_its_account_and_holder_and_lists_the_other_ends_apart() -> None:
    mule = "icbc:mule-1"
    events = [
        account_open("holder", T0 - HOUR, account=mule),
        transfer("victim-1", mule, 300_000, T0, n=1),
        transfer("victim-2", mule, 200_000, T0 + 10 * timedelta(minutes=1), n=2),
        transfer(mule, "cashout-1", 400_000, T0 + 40 * timedelta(minutes=1), n=3),
    ]
    [alert] = rules_of(alerts_in_order(events), "mule_pass_through")
    assert alert.evidence.entities is not None
    assert alert.evidence.entities.accounts == [mule]
    assert alert.evidence.entities.identities == []
    assert alert.evidence.holder == identity("holder")
    assert alert.evidence.counterparties == ["cashout-1", "victim-1", "victim-2"]


def test_a_mule_alert_without_a_known_opening_has_no_holder() -> None:
    mule = "icbc:mule-2"
    events = [transfer(f"sender-{n}", mule, 1_000, T0 + n * HOUR, n=n) for n in range(10)]
    [alert] = rules_of(alerts_in_order(events), "mule_fan_in")
    assert alert.evidence.holder is None
    assert alert.evidence.counterparties == sorted(f"sender-{n}" for n in range(10))


def test_a_borrowed_phone_alert_names_both_people_and_the_account() -> None:
    number = "+8613700001111"
    events = [
        activation("owner", T0, msisdn=number, device="owner-phone"),
        account_open("mule", T0 + timedelta(days=3), msisdn=number, device="mule-phone"),
    ]
    [alert] = rules_of(alerts_in_order(events), "borrowed_phone")
    entities = alert.evidence.entities
    assert entities is not None
    assert entities.msisdns == [number]
    assert entities.identities == sorted([identity("owner"), identity("mule")])
    assert entities.accounts == [events[1].account]
    assert entities.devices == ["mule-phone", "owner-phone"]


def test_lists_keep_the_first_ids_in_order_and_always_the_subject() -> None:
    uses = [DeviceUse(n, f"e-{n}", "cmcc", identity(f"p-{n:03d}"), None, None) for n in range(80)]
    subject = identity("p-079")  # sorts after the first 50 others
    entities, counts = named_entities(Subject(kind="identity", id=subject), uses)
    assert counts.identities == 80
    assert len(entities.identities) == MAX_ENTITIES
    assert subject in entities.identities
    assert entities.identities == sorted(entities.identities)
    others = sorted(identity(f"p-{n:03d}") for n in range(80) if identity(f"p-{n:03d}") != subject)
    assert set(entities.identities) == {subject, *others[: MAX_ENTITIES - 1]}


def _v2_document() -> dict[str, Any]:
    events = [activation("seller", T0 + n * HOUR, n=n) for n in range(5)]
    [alert] = rules_of(alerts_in_order(events), "bulk_sim_opener")
    document: dict[str, Any] = orjson.loads(alert.model_dump_json())
    return document


def test_a_version_1_alert_reads_without_entities() -> None:
    document = _v2_document()
    document["schema_version"] = 1
    for name in ("entities", "entity_counts", "holder", "counterparties", "flag_alert_id"):
        del document["evidence"][name]
    alert = Alert.model_validate_json(orjson.dumps(document))
    assert alert.schema_version == 1 and alert.evidence.entities is None


def test_a_version_2_alert_must_name_its_entities_and_its_subject_among_them() -> None:
    document = _v2_document()
    missing = {**document, "evidence": {**document["evidence"], "entities": None}}
    with pytest.raises(ValidationError, match="names its entities"):
        Alert.model_validate_json(orjson.dumps(missing))
    entities = {**document["evidence"]["entities"], "identities": []}
    without_subject = {**document, "evidence": {**document["evidence"], "entities": entities}}
    with pytest.raises(ValidationError, match="subject is among its entities"):
        Alert.model_validate_json(orjson.dumps(without_subject))


def test_state_of_version_5_reads_its_records_without_the_new_entities() -> None:
    identity_v5 = [
        5,
        "identity",
        {},
        {},
        [],
        {},
        [[1, "e-1", "cmcc", "+8613800000001"]],
        [],
        None,
        [],
    ]
    state = IdentityState.from_json(identity_v5)
    assert list(state.sims) == [SimRecord(1, "e-1", "cmcc", "+8613800000001", None, None)]
    device_v5 = [5, "device", {}, {}, [], {}, [[1, "e-1", "cmcc", "p", "+8613800000001", "cmcc"]]]
    [use] = DeviceState.from_json(device_v5).uses
    assert (use.account, use.outlet, use.company) == (None, None, None)
    msisdn_v5 = [5, "msisdn", {}, {}, [], {}, [[1, "e-1", "cmcc", "p"]], []]
    assert list(MsisdnState.from_json(msisdn_v5).activations) == [
        NumberActivation(1, "e-1", "cmcc", "p", None, None)
    ]
    account_v5 = [5, "account", {}, {}, [], {}, [1, "e-1", "icbc", "personal"], [], []]
    account = AccountState.from_json(account_v5)
    assert account.opening == Opening(1, "e-1", "icbc", "personal", None)
    assert account.holder() is None


def test_state_of_version_6_keeps_every_entity_through_its_encoding() -> None:
    state = AccountState(opening=Opening(1, "e-1", "icbc", "personal", identity("holder")))
    state.incoming.add(Leg(2, "t-1", "icbc", "victim", 100, True, "ccb"))
    decoded = AccountState.from_json(orjson.loads(orjson.dumps(state.to_json())))
    assert decoded == state and decoded.holder() == identity("holder")
    device = DeviceState()
    device.uses.add(DeviceUse(1, "e-1", "icbc", "p", None, None, "icbc:a-1", None, "c-1"))
    assert DeviceState.from_json(orjson.loads(orjson.dumps(device.to_json()))) == device
