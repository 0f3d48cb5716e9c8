"""Dispositions: their admission, what they make of a case's status, their rejections, and
replay reading them."""

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from duanka.detector.core.cases import CaseLinker, Disposal, unknown_alert
from duanka.detector.core.engine import Engine
from duanka.detector.core.intake import Confirmation, admit
from duanka.detector.core.policy import Policy
from duanka.replay.replayer import Replayer
from duanka.schemas.codec import DecodeError
from duanka.schemas.dispositions import Disposition
from tests.factories import activation
from tests.unit.test_cases import GRACE, HORIZON, NOW, alert

SKEW = timedelta(minutes=5)
DEVICE_ALERT = alert("a", "shared_device", ("device", "imei:1"), identities=["p1"])
IDENTITY_ALERT = alert("b", "bulk_sim_opener", ("identity", "p1"))
LONE_ALERT = alert("c", "shared_device", ("device", "imei:9"))


def disposition(
    target: Any, outcome: str = "confirmed", institution: str = "icbc", **fields: Any
) -> Disposition:
    document = {
        "alert_id": target.alert_id,
        "institution": institution,
        "outcome": outcome,
        "decided_at": NOW.isoformat(),
        **fields,
    }
    return Disposition.model_validate(document)


def raw(target: Any, **fields: Any) -> bytes:
    document = {
        "alert_id": target.alert_id,
        "institution": "icbc",
        "outcome": "confirmed",
        "decided_at": NOW.isoformat(),
        **fields,
    }
    return orjson.dumps(document)


def linked(*alerts: Any) -> CaseLinker:
    linker = CaseLinker(HORIZON, GRACE)
    for a in alerts:
        linker.link(a, NOW)
    return linker


def taken(linker: CaseLinker, given: Disposition) -> Disposal:
    disposal = linker.dispose(given, NOW)
    assert disposal is not None, "held"
    return disposal


def test_a_disposition_is_admitted_from_its_topic() -> None:
    admitted = admit("dispositions", DEVICE_ALERT.alert_id.encode(), raw(DEVICE_ALERT), NOW, SKEW)
    assert admitted == disposition(DEVICE_ALERT)


@pytest.mark.parametrize(
    ("key", "fields", "reason"),
    [
        (b"0" * 32, {}, "key_mismatch"),
        (None, {"outcome": "fraud"}, "invalid"),
        (None, {"note": "x" * 501}, "invalid"),
        (None, {"alert_id": "not-an-alert-id"}, "invalid"),
        (None, {"decided_at": "2026-12-01T00:00:00"}, "invalid"),
        (None, {"decided_at": (NOW + timedelta(hours=1)).isoformat()}, "from_future"),
    ],
)
def test_a_bad_disposition_is_rejected_with_its_reason(
    key: bytes | None, fields: dict[str, Any], reason: str
) -> None:
    with pytest.raises(DecodeError) as rejected:
        admit("dispositions", key, raw(DEVICE_ALERT, **fields), NOW, SKEW)
    assert rejected.value.reason == reason


def test_a_disposition_without_a_value_is_rejected() -> None:
    with pytest.raises(DecodeError, match="no value"):
        admit("dispositions", None, None, NOW, SKEW)


def test_a_disposition_of_an_alert_not_linked_yet_is_held_and_taken_with_it() -> None:
    """In a worker the alert comes a longer way than the disposition: the linker holds the
    disposition, and the alert's case records show it once the alert is linked."""
    account_alert = alert("m", "mule_fan_in", ("account", "icbc:m"), at=NOW)
    linker = linked(DEVICE_ALERT)
    assert linker.dispose(disposition(account_alert), NOW) is None
    assert linker.held_count() == 1
    linking = linker.link(account_alert, NOW)
    [record] = linking.cases
    assert (record.status, record.alerts) == ("confirmed", [account_alert.alert_id])
    [disposal] = linking.disposals
    assert (disposal.new, disposal.rule, disposal.cases) == (True, "mule_fan_in", [])
    [confirmation] = disposal.derived
    assert isinstance(confirmation, Confirmation) and confirmation.account == "icbc:m"
    assert linking.expired == [] and linker.held_count() == 0


@pytest.mark.parametrize(("after", "expired"), [(GRACE - 1, False), (GRACE, True)])
def test_a_held_disposition_is_rejected_once_alerts_reach_the_grace_past_its_decision(
    after: int, expired: bool
) -> None:
    linker = linked(DEVICE_ALERT)
    held = disposition(LONE_ALERT)
    assert linker.dispose(held, NOW) is None
    later = alert("later", "shared_device", ("device", "imei:5"), at=NOW + ms(after))
    linking = linker.link(later, NOW)
    assert linking.expired == ([held] if expired else [])
    assert (LONE_ALERT.alert_id in linker.held) is not expired
    error = unknown_alert(held)
    assert error.reason == "unknown_alert" and LONE_ALERT.alert_id in str(error)


def test_a_held_disposition_waits_for_the_lane_furthest_behind() -> None:
    """Alerts about devices reaching the grace past the decision say nothing of alerts about
    identities, which come from other partitions, maybe days behind."""
    linker = linked(IDENTITY_ALERT)
    held = disposition(LONE_ALERT)
    linker.dispose(held, NOW)
    ahead = alert("ahead", "shared_device", ("device", "imei:5"), at=NOW + ms(GRACE))
    assert linker.link(ahead, NOW).expired == []
    caught_up = alert("caught-up", "bulk_sim_opener", ("identity", "p5"), at=NOW + ms(GRACE))
    assert linker.link(caught_up, NOW).expired == [held]


def test_a_disposition_decided_the_grace_before_the_alerts_linked_is_rejected_at_once() -> None:
    linker = linked(alert("later", "shared_device", ("device", "imei:5"), at=NOW + ms(GRACE)))
    with pytest.raises(DecodeError) as rejected:
        linker.dispose(disposition(LONE_ALERT), NOW)
    assert rejected.value.reason == "unknown_alert"
    assert linker.held == {}


def test_a_disposition_not_placed_yet_neither_expires_nor_is_rejected() -> None:
    """In the worker, a disposition's alert may come from before it however far other
    alerts reach, until its subjects' partitions have all gone past it
    (`disposition_gate`): only then may it expire."""
    linker = linked(alert("later", "shared_device", ("device", "imei:5"), at=NOW + ms(GRACE)))
    linker.placing = True
    held = disposition(LONE_ALERT)
    assert linker.dispose(held, NOW) is None  # not rejected at once
    caught_up = alert("caught-up", "bulk_sim_opener", ("identity", "p5"), at=NOW + ms(GRACE))
    assert linker.link(caught_up, NOW).expired == []
    assert linker.place(LONE_ALERT.alert_id, "icbc") == [held]
    assert linker.held == {} and linker.unplaced == set()


def test_a_disposition_placed_before_the_grace_is_reached_expires_later() -> None:
    linker = linked(DEVICE_ALERT)
    linker.placing = True
    held = disposition(LONE_ALERT)
    linker.dispose(held, NOW)
    assert linker.place(LONE_ALERT.alert_id, "icbc") == []
    later = alert("later", "shared_device", ("device", "imei:5"), at=NOW + ms(GRACE))
    assert linker.link(later, NOW).expired == [held]


def test_a_disposition_taken_with_its_alert_is_no_longer_unplaced() -> None:
    linker = linked(DEVICE_ALERT)
    linker.placing = True
    linker.dispose(disposition(LONE_ALERT), NOW)
    assert linker.unplaced == {(LONE_ALERT.alert_id, "icbc")}
    [disposal] = linker.link(LONE_ALERT, NOW).disposals
    assert disposal.new and linker.unplaced == set()


def test_an_institution_decides_once_on_an_alert_held_for() -> None:
    linker = linked(DEVICE_ALERT)
    linker.dispose(disposition(LONE_ALERT), NOW)
    assert linker.dispose(disposition(LONE_ALERT), NOW) is None  # the same again: still held
    with pytest.raises(DecodeError) as rejected:
        linker.dispose(disposition(LONE_ALERT, "actioned"), NOW)
    assert rejected.value.reason == "repeated_disposition"


def test_a_restored_linker_holds_the_dispositions_of_alerts_not_linked() -> None:
    restored = CaseLinker(HORIZON, GRACE)
    restored.restore([DEVICE_ALERT])
    restored.restore_dispositions([disposition(LONE_ALERT), disposition(DEVICE_ALERT)])
    assert restored.outcome(DEVICE_ALERT.alert_id) == "confirmed"
    assert list(restored.held) == [LONE_ALERT.alert_id]
    [disposal] = restored.link(LONE_ALERT, NOW).disposals
    assert disposal.disposition == disposition(LONE_ALERT)


def ms(duration: int) -> timedelta:
    return timedelta(milliseconds=duration)


def test_an_institution_decides_once_per_alert() -> None:
    linker = linked(DEVICE_ALERT)
    linker.dispose(disposition(DEVICE_ALERT, "false_positive"), NOW)
    with pytest.raises(DecodeError) as rejected:
        linker.dispose(disposition(DEVICE_ALERT, "confirmed"), NOW)
    assert rejected.value.reason == "repeated_disposition"
    assert "false_positive" in str(rejected.value)
    assert linker.outcome(DEVICE_ALERT.alert_id) == "false_positive"


def test_the_same_disposition_again_changes_nothing_and_gives_its_case_again() -> None:
    linker = linked(DEVICE_ALERT)
    first = linker.dispose(disposition(DEVICE_ALERT), NOW)
    again = linker.dispose(disposition(DEVICE_ALERT), NOW)
    assert first is not None and again is not None
    assert (first.new, again.new) == (True, False)
    assert first.cases == again.cases
    assert first.rule == "shared_device"


def test_a_case_with_a_confirmed_alert_is_confirmed() -> None:
    linker = linked(DEVICE_ALERT, IDENTITY_ALERT)
    linker.dispose(disposition(IDENTITY_ALERT, "false_positive", "cmcc"), NOW)
    [record] = taken(linker, disposition(DEVICE_ALERT)).cases
    assert record.status == "confirmed"
    assert set(record.alerts) == {DEVICE_ALERT.alert_id, IDENTITY_ALERT.alert_id}


def test_a_confirmation_outweighs_another_institution_s_false_positive() -> None:
    linker = linked(DEVICE_ALERT)
    linker.dispose(disposition(DEVICE_ALERT, "false_positive", "cmcc"), NOW)
    [record] = taken(linker, disposition(DEVICE_ALERT, "confirmed", "icbc")).cases
    assert record.status == "confirmed"


def test_a_case_is_closed_once_every_alert_is_a_false_positive() -> None:
    linker = linked(DEVICE_ALERT, IDENTITY_ALERT)
    [record] = taken(linker, disposition(DEVICE_ALERT, "false_positive")).cases
    assert record.status == "open"
    [record] = taken(linker, disposition(IDENTITY_ALERT, "false_positive")).cases
    assert record.status == "closed"


def test_an_action_taken_says_nothing_of_the_case() -> None:
    [record] = taken(linked(LONE_ALERT), disposition(LONE_ALERT, "actioned")).cases
    assert record.status == "open"


def test_a_closed_case_opens_again_when_a_new_alert_joins_it() -> None:
    linker = linked(DEVICE_ALERT)
    linker.dispose(disposition(DEVICE_ALERT, "false_positive"), NOW)
    joined, *merged = linker.link(IDENTITY_ALERT, NOW).cases
    assert joined.status == "open"
    assert [m.status for m in merged] == ["merged"]  # b is the earlier: its id sorts first


def test_a_restored_linker_keeps_the_dispositions() -> None:
    linker = linked(DEVICE_ALERT, IDENTITY_ALERT)
    taken = [disposition(DEVICE_ALERT, "false_positive"), disposition(IDENTITY_ALERT, "confirmed")]
    for d in taken:
        linker.dispose(d, NOW)
    restored = CaseLinker(HORIZON, GRACE)
    restored.restore([IDENTITY_ALERT, DEVICE_ALERT])
    restored.restore_dispositions(reversed(taken))
    case = linker.case_of(DEVICE_ALERT.alert_id)
    assert case is not None
    assert restored.case(case, NOW) == linker.case(case, NOW)
    with pytest.raises(DecodeError, match="already"):
        restored.dispose(disposition(DEVICE_ALERT, "confirmed"), NOW)


def replay_line(topic: str, value: Any, key: str | None = None) -> bytes:
    return orjson.dumps({"topic": topic, "key": key, "value": value})


def test_replay_takes_dispositions_of_the_alerts_it_raised() -> None:
    """A device five identities activated on in a day raises `shared_device`; replay links
    it, takes the carrier's confirmation of it, and rejects one of an alert it never
    raised."""
    replayer = Replayer(Engine(Policy()))
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    alerts = []
    for n in range(5):
        event = activation(f"p{n}", at + timedelta(minutes=n), device="imei:77")
        line = replay_line("sim-activations", event.model_dump(mode="json"))
        found, letter = replayer.replay_line(line, n + 1)
        assert letter is None
        alerts += found
    [device_alert] = [a for a in alerts if a.rule == "shared_device"]
    opened = replayer.take_cases()
    assert opened[-1].status == "open"
    confirmed = {
        "alert_id": device_alert.alert_id,
        "institution": "cmcc",
        "outcome": "confirmed",
        "decided_at": at.isoformat(),
    }
    found, letter = replayer.replay_line(replay_line("dispositions", confirmed), 6)
    assert (found, letter) == ([], None)
    [record] = replayer.take_cases()
    assert record.status == "confirmed"
    assert replayer.stats.dispositions == {("shared_device", "confirmed"): 1}
    unknown = {**confirmed, "alert_id": "f" * 32}
    assert replayer.replay_line(replay_line("dispositions", unknown), 7) == ([], None)  # held
    assert replayer.take_letters() == []
    [letter] = replayer.finish()
    assert (letter.reason, letter.topic, letter.offset) == ("unknown_alert", "dispositions", 7)
    assert replayer.take_cases() == []
    assert replayer.stats.dead_letters == {"unknown_alert": 1}
