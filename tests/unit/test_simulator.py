"""The simulator: valid contract messages, reproducible, and its truth is what the core finds."""

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, cast

from duanka.detector.core.engine import RULES, Engine
from duanka.detector.core.intake import Admitted, InputTopic, admit
from duanka.detector.core.policy import Policy
from duanka.pseudonym import validate
from duanka.replay.replayer import Replayer
from duanka.schemas.alerts import Alert
from duanka.simulator.cli import DistinctTimestamps
from duanka.simulator.population import person
from duanka.simulator.scenario import Scenario, ScenarioConfig, SimulatedMessage

START = datetime(2026, 9, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 28, tzinfo=UTC)
SKEW = timedelta(minutes=5)


def simulate(seed: int, events: int) -> tuple[Scenario, list[SimulatedMessage]]:
    scenario = Scenario(ScenarioConfig(seed, START, seconds_per_event=18.0))
    messages = list(itertools.islice(scenario.messages(), events))
    return scenario, [*messages, *scenario.pending()]


def admitted(message: SimulatedMessage) -> Admitted:
    """The message as the worker would admit it (raises if it would be dead-lettered)."""
    topic = cast(InputTopic, message.topic)
    return admit(topic, message.key.encode(), message.encoded_value(), NOW, SKEW)


def test_people_have_valid_distinct_id_numbers() -> None:
    people = [person(i) for i in (0, 1, 999, 1000, 17_999_999, 50_000_123)]
    for p in people:
        assert validate(p.id_number) == p.id_number
    assert len({p.id_number for p in people}) == len(people)
    assert len({p.identity for p in people}) == len(people)


def test_same_seed_same_messages() -> None:
    assert simulate(7, 2000)[1] == simulate(7, 2000)[1]
    assert simulate(7, 2000)[1] != simulate(8, 2000)[1]


def test_messages_are_valid_and_in_event_time_order() -> None:
    _, messages = simulate(3, 5000)
    times = [m.at for m in messages]
    assert times == sorted(times)
    for message in messages:
        admitted = admit(
            message.topic,
            message.key.encode(),  # type: ignore[arg-type]
            message.encoded_value(),
            NOW,
            Policy().allowed_lateness,
        )
        assert admitted is not None


def test_the_core_finds_exactly_the_injected_patterns() -> None:
    scenario, messages = simulate(11, 30_000)
    assert {rule for rule, _, _ in scenario.truth} == set(RULES)
    replayer = Replayer(Engine(Policy()))
    found = set()
    for message in messages:
        found |= {(a.rule, a.subject.kind, a.subject.id) for a in replayer.apply(admitted(message))}
    assert found == scenario.truth


def test_dispositions_flag_collectors_lift_listings_and_the_bad_ones_are_rejected() -> None:
    """Replay raises every warning expected by id, each confirmed collector's naming the
    confirmation; the appealed come back unalerted; the repeated and mistyped decisions are
    dead-lettered. Without the dispositions, none of that happens."""
    scenario, messages = simulate(11, 30_000)
    flagged = [e for e in scenario.expected if e.flag_alert_id is not None]
    assert flagged and len(scenario.expected) > len(flagged)
    replayed = replay(messages)
    for expected in scenario.expected:
        alert = replayed.alerts.get(expected.alert_id)
        assert alert is not None and (alert.rule, alert.subject.id) == (expected.rule, expected.id)
        assert expected.flag_alert_id in (None, alert.evidence.flag_alert_id)
    assert {(a.rule, a.subject.kind, a.subject.id) for a in replayed.alerts.values()} == (
        scenario.truth
    )
    assert set(replayed.rejected) == {"unknown_alert", "repeated_disposition"}
    undisposed = replay([m for m in messages if m.topic != "dispositions"])
    assert not any(e.alert_id in undisposed.alerts for e in flagged)
    relisted = {
        a.subject.id for a in undisposed.alerts.values() if a.rule == "watchlisted_identity"
    } - {id for rule, _, id in scenario.truth if rule == "watchlisted_identity"}
    assert relisted and all(
        scenario.gangs[("identity", id)].startswith("appealed") for id in relisted
    )


class Replayed(NamedTuple):
    alerts: dict[str, Alert]
    rejected: Counter[str]


def replay(messages: list[SimulatedMessage]) -> Replayed:
    replayer = Replayer(Engine(Policy()))
    alerts = {a.alert_id: a for m in messages for a in replayer.apply(admitted(m))}
    return Replayed(alerts, Counter(letter.reason for letter in replayer.finish()))


def test_newcomers_are_distinct_people_on_new_numbers_and_devices_raising_nothing() -> None:
    scenario = Scenario(ScenarioConfig(5, START, seconds_per_event=1.0))
    messages = list(scenario.newcomers(3000))
    events = [admitted(message) for message in messages]
    assert [m.at for m in messages] == [START + timedelta(seconds=n) for n in range(3000)]
    for field in ("identity", "msisdn", "device"):
        assert len({getattr(event, field) for event in events}) == 3000
    replayer = Replayer(Engine(Policy()))
    assert [alert for event in events for alert in replayer.apply(event)] == []


def test_record_timestamps_never_repeat_even_within_a_millisecond() -> None:
    stamp = DistinctTimestamps()
    stamps = [stamp.next() for _ in range(1000)]
    assert stamps == sorted(set(stamps))


def test_every_expected_subject_is_filed_under_the_injection_that_made_it() -> None:
    scenario, _ = simulate(11, 30_000)
    assert set(scenario.gangs) == {(kind, id) for _, kind, id in scenario.truth}
    rules_of_gang: dict[str, set[str]] = {}
    for rule, kind, id in scenario.truth:
        rules_of_gang.setdefault(scenario.gangs[(kind, id)], set()).add(rule)
    workshops = [rules for gang, rules in rules_of_gang.items() if gang.startswith("workshop")]
    gang_rules = {"shared_device", "bulk_sim_opener", "bulk_account_opener", "borrowed_phone"}
    assert workshops and all(gang_rules | {"mule_fan_in"} <= rules for rules in workshops)


def test_victims_pay_again_and_one_pays_two_collectors() -> None:
    scenario, messages = simulate(11, 30_000)
    collectors = {id for rule, _, id in scenario.truth if rule == "mule_fan_in"}
    payments: dict[str, list[str]] = {c: [] for c in collectors}
    for m in messages:
        if m.topic == "transfers" and m.value["to_account"] in collectors:
            payments[m.value["to_account"]].append(m.value["from_account"])
    assert all(len(senders) > len(set(senders)) for senders in payments.values())
    paid = [set(senders) for senders in payments.values()]
    assert any(a & b for a, b in itertools.combinations(paid, 2))
