"""Cases: which alerts join, the ids and merges, independence from arrival order."""

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from duanka.detector.core.cases import CaseLinker, case_id
from duanka.detector.core.clock import duration_ms
from duanka.schemas.alerts import Alert

T0 = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 1, tzinfo=UTC)
HORIZON = duration_ms(timedelta(days=180))
GRACE = duration_ms(timedelta(days=7))


def alert(
    name: str,
    rule: str,
    subject: tuple[str, str],
    at: datetime = T0,
    *,
    counterparties: tuple[str, ...] = (),
    holder: str | None = None,
    amount_minor: int = 0,
    institution: str | None = "icbc",
    **entities: list[str],
) -> Alert:
    """An alert named `name` (its id derives from it) naming `entities` besides its
    subject (`identities=[...]`, `devices=[...]`, ...)."""
    kind, id = subject
    named: dict[str, list[str]] = {
        k: [] for k in ("identities", "msisdns", "accounts", "devices", "outlets", "companies")
    }
    plural = {
        "identity": "identities",
        "msisdn": "msisdns",
        "account": "accounts",
        "device": "devices",
        "outlet": "outlets",
    }[kind]
    for key, ids in entities.items():
        named[key] = list(ids)
    named[plural] = sorted({id, *named[plural]})
    document: dict[str, Any] = {
        "alert_id": hashlib.sha256(name.encode()).hexdigest()[:32],
        "rule": rule,
        "severity": "high",
        "subject": {"kind": kind, "id": id},
        "trigger_event_id": f"e-{name}",
        "window": {"start": T0 - timedelta(days=1), "end": at},
        "evidence": {
            "event_ids": [f"e-{name}"],
            "count": 1,
            "distinct": 1,
            "amount_minor": amount_minor,
            "entities": named,
            "entity_counts": {k: len(v) for k, v in named.items()},
            "holder": holder,
            "counterparties": list(counterparties),
        },
        "actions": [{"action": "review", "target": id, "institution": institution}],
        "summary": name,
        "detected_at": NOW,
    }
    return Alert.model_validate(document)


def cases_of(alerts: list[Alert]) -> dict[str, set[str]]:
    """Per case id, the alert ids of the open cases the alerts form in this order."""
    linker = CaseLinker(HORIZON, GRACE)
    latest: dict[str, Any] = {}
    for a in alerts:
        for record in linker.link(a, NOW).cases:
            latest[record.case_id] = record
    return {cid: set(record.alerts) for cid, record in latest.items() if record.status == "open"}


PERSON = "a" * 64
OTHER = "b" * 64


def test_alerts_naming_the_same_identity_are_one_case() -> None:
    seller = alert("seller", "bulk_sim_opener", ("identity", PERSON), devices=["modem-1"])
    farm = alert("farm", "shared_device", ("device", "modem-2"), identities=[PERSON, OTHER])
    [members] = cases_of([seller, farm]).values()
    assert members == {seller.alert_id, farm.alert_id}


def test_alerts_naming_nothing_in_common_are_two_cases() -> None:
    one = alert("one", "bulk_sim_opener", ("identity", PERSON), msisdns=["+8613800000001"])
    two = alert("two", "bulk_sim_opener", ("identity", OTHER), msisdns=["+8613800000002"])
    assert sorted(cases_of([one, two]).values(), key=sorted) == sorted(
        [{one.alert_id}, {two.alert_id}], key=sorted
    )


def test_money_between_two_alerted_accounts_joins_them() -> None:
    collector = alert("collector", "mule_fan_in", ("account", "icbc:c"), counterparties=("v1",))
    relay = alert("relay", "mule_pass_through", ("account", "icbc:r"), counterparties=("icbc:c",))
    [members] = cases_of([collector, relay]).values()
    assert members == {collector.alert_id, relay.alert_id}


def test_a_victim_paying_two_gangs_joins_neither() -> None:
    one = alert("gang-1", "mule_fan_in", ("account", "icbc:m1"), counterparties=("victim",))
    two = alert("gang-2", "mule_fan_in", ("account", "ccb:m2"), counterparties=("victim",))
    assert len(cases_of([one, two])) == 2


def test_a_victim_that_is_alerted_itself_is_joined() -> None:
    mule = alert("mule", "mule_fan_in", ("account", "icbc:m1"), counterparties=("icbc:x",))
    other = alert("other", "mule_fan_out", ("account", "icbc:x"))
    assert len(cases_of([mule, other])) == 1


def test_an_account_holder_joins_the_alerts_about_them() -> None:
    account = alert("account", "new_account_velocity", ("account", "icbc:a"), holder=PERSON)
    person = alert("person", "bulk_account_opener", ("identity", PERSON))
    other_account = alert("other", "mule_fan_out", ("account", "ccb:b"), holder=PERSON)
    [members] = cases_of([account, person, other_account]).values()
    assert len(members) == 3


def test_a_shared_outlet_joins_only_through_an_alert_about_it() -> None:
    one = alert("one", "bulk_sim_opener", ("identity", PERSON), outlets=["shop-1"])
    two = alert("two", "bulk_sim_opener", ("identity", OTHER), outlets=["shop-1"])
    assert len(cases_of([one, two])) == 2
    outlet = alert("outlet", "complicit_outlet", ("outlet", "shop-1"))
    assert len(cases_of([one, two, outlet])) == 1


def test_alerts_join_only_within_the_case_horizon() -> None:
    first = alert("first", "bulk_sim_opener", ("identity", PERSON))
    inside = alert(
        "inside",
        "bulk_account_opener",
        ("identity", PERSON),
        at=T0 + timedelta(days=180) - timedelta(milliseconds=1),
    )
    outside = alert(
        "outside", "bulk_account_opener", ("identity", PERSON), at=T0 + timedelta(days=180)
    )
    assert len(cases_of([first, inside])) == 1
    assert len(cases_of([first, outside])) == 2


def two_cases_and_a_bridge() -> tuple[Alert, Alert, Alert]:
    """Two people's alerts, two days apart, then a device alert naming both."""
    early = alert("early", "bulk_sim_opener", ("identity", PERSON), at=T0, devices=["d-1"])
    late = alert("late", "bulk_sim_opener", ("identity", OTHER), at=T0 + timedelta(days=2))
    bridge = alert(
        "bridge",
        "shared_device",
        ("device", "modem"),
        at=T0 + timedelta(days=3),
        identities=[PERSON, OTHER],
    )
    return early, late, bridge


def test_a_joining_alert_merges_cases_into_the_earliest() -> None:
    early, late, bridge = two_cases_and_a_bridge()
    linker = CaseLinker(HORIZON, GRACE)
    assert [r.case_id for r in linker.link(early, NOW).cases] == [case_id(early.alert_id)]
    assert [r.case_id for r in linker.link(late, NOW).cases] == [case_id(late.alert_id)]
    joined, merged = linker.link(bridge, NOW).cases
    assert joined.case_id == case_id(early.alert_id) and joined.status == "open"
    assert joined.alerts == [early.alert_id, late.alert_id, bridge.alert_id]
    assert merged.case_id == case_id(late.alert_id)
    assert (merged.status, merged.merged_into) == ("merged", joined.case_id)
    assert merged.alerts == [late.alert_id]
    assert linker.case_of(late.alert_id) == joined.case_id
    [again] = linker.link(
        bridge, NOW
    ).cases  # delivered again: nothing changes, the record is resent
    assert again.model_dump(exclude={"updated_at"}) == joined.model_dump(exclude={"updated_at"})


def test_a_case_record_counts_its_members_and_says_what_it_is() -> None:
    farm = alert(
        "farm",
        "shared_device",
        ("device", "modem"),
        identities=[PERSON, OTHER],
        msisdns=["+8613800000001", "+8613800000002"],
    )
    mule = alert(
        "mule",
        "mule_fan_in",
        ("account", "icbc:m"),
        holder=PERSON,
        counterparties=("victim",),
        amount_minor=1_200_000,
        institution="ccb",
    )
    warned = alert("warned", "payment_to_flagged", ("account", "icbc:m"), amount_minor=50_000)
    records = []
    linker = CaseLinker(HORIZON, GRACE)
    for a in (farm, mule, warned):
        records += linker.link(a, NOW).cases
    case = records[-1]
    assert case.members.identities == sorted([PERSON, OTHER])
    assert case.members.accounts == ["icbc:m"]  # never the victim's
    assert case.member_counts.msisdns == 2
    assert case.rules == {"mule_fan_in": 1, "payment_to_flagged": 1, "shared_device": 1}
    assert case.institutions == ["ccb", "icbc"]
    assert case.amount_minor == 1_200_000  # through mule accounts: not the warned payment
    assert case.summary == (
        "2 identities on 1 device, 2 numbers, 1 account; CNY 12,000.00 through mule "
        "accounts; 3 alerts at 2 institutions"
    )


WORLD = [
    alert("a", "bulk_sim_opener", ("identity", PERSON), at=T0, devices=["d1"]),
    alert("b", "shared_device", ("device", "d1"), at=T0 + timedelta(days=1), identities=[OTHER]),
    alert("c", "bulk_sim_opener", ("identity", OTHER), at=T0 + timedelta(days=2)),
    alert("d", "mule_fan_in", ("account", "icbc:m"), at=T0 + timedelta(days=3), holder=OTHER),
    alert(
        "e",
        "mule_fan_in",
        ("account", "ccb:n"),
        at=T0 + timedelta(days=4),
        counterparties=("icbc:m",),
    ),
    alert(
        "f",
        "mule_fan_in",
        ("account", "boc:z"),
        at=T0 + timedelta(days=5),
        counterparties=("victim",),
    ),
    alert(
        "g",
        "mule_fan_in",
        ("account", "abc:y"),
        at=T0 + timedelta(days=6),
        counterparties=("victim",),
    ),
    alert(
        "h", "bulk_sim_opener", ("identity", "c" * 64), at=T0 + timedelta(days=400), devices=["d1"]
    ),
]


@settings(max_examples=60, deadline=None)
@given(st.permutations(WORLD))
def test_cases_and_their_ids_do_not_depend_on_arrival_order(alerts: list[Alert]) -> None:
    assert cases_of(alerts) == cases_of(WORLD)


def test_the_world_is_the_cases_it_should_be() -> None:
    by_name = {a.summary: a.alert_id for a in WORLD}
    expected = [{"a", "b", "c", "d", "e"}, {"f"}, {"g"}, {"h"}]
    assert sorted(cases_of(WORLD).values(), key=sorted) == sorted(
        ({by_name[n] for n in names} for names in expected), key=sorted
    )


@settings(max_examples=30, deadline=None)
@given(st.permutations(WORLD), st.integers(0, len(WORLD)))
def test_a_linker_restored_from_its_alerts_is_the_linker_that_linked_them(
    alerts: list[Alert], linked_before: int
) -> None:
    """A worker taking the linker over restores it from the alerts stored so far, in
    whatever order its table gives them, then links the rest."""
    restored = CaseLinker(HORIZON, GRACE)
    restored.restore(alerts[:linked_before])
    for a in alerts[linked_before:]:
        restored.link(a, NOW)
    original = CaseLinker(HORIZON, GRACE)
    for a in WORLD:
        original.link(a, NOW)
    assert {a.alert_id: restored.case_of(a.alert_id) for a in WORLD} == {
        a.alert_id: original.case_of(a.alert_id) for a in WORLD
    }


def test_a_case_is_found_by_its_id_any_merged_id_and_any_member() -> None:
    early, late, bridge = two_cases_and_a_bridge()
    linker = CaseLinker(HORIZON, GRACE)
    for a in (early, late, bridge):
        linker.link(a, NOW)
    joined = linker.case(case_id(early.alert_id), NOW)
    assert joined is not None and joined.status == "open" and len(joined.alerts) == 3
    merged = linker.case(case_id(late.alert_id), NOW)
    assert merged is not None and (merged.status, merged.merged_into) == ("merged", joined.case_id)
    assert linker.case(case_id(bridge.alert_id), NOW) is None  # never a case of its own
    assert linker.case("0" * 32, NOW) is None
    for member in [("identity", OTHER), ("device", "d-1"), ("device", "modem")]:
        found = linker.case_with(member, NOW)
        assert found is not None and found.case_id == joined.case_id
    assert linker.case_with(("device", "elsewhere"), NOW) is None


def test_the_alerts_naming_an_outlet_are_found_across_cases() -> None:
    one = alert("one", "bulk_sim_opener", ("identity", PERSON), outlets=["shop-1"])
    two = alert(
        "two", "bulk_sim_opener", ("identity", OTHER), at=T0 - timedelta(days=1), outlets=["shop-1"]
    )
    elsewhere = alert("elsewhere", "bulk_sim_opener", ("identity", "c" * 64), outlets=["shop-2"])
    linker = CaseLinker(HORIZON, GRACE)
    for a in (one, two, elsewhere):
        linker.link(a, NOW)
    assert [a.alert_id for a in linker.naming(("outlet", "shop-1"))] == [two.alert_id, one.alert_id]
    assert len({linker.case_of(a.alert_id) for a in (one, two)}) == 2
    assert linker.naming(("outlet", "shop-3")) == []
