"""The worker's case linker: dispositions offered to subjects, and restored from its table
(alerts linked, dispositions taken and held, each with where it was read and which message
offered it), offering again what a message read again offered."""

from duanka.detector.bundle import partition_of
from duanka.detector.case_links import CaseLinks, Stored, StoredAlert, token
from duanka.detector.core.clock import to_ms
from duanka.detector.core.disposition_gate import Awaited, Position
from duanka.detector.core.policy import Policy
from duanka.schemas.codec import encode
from tests.unit.test_cases import NOW, alert
from tests.unit.test_dispositions import DEVICE_ALERT, LONE_ALERT, disposition

ACCOUNT_ALERT = alert("m", "mule_fan_in", ("account", "icbc:m"), at=NOW)


def read_at(offset: int, given: object) -> Stored:
    """A disposition read at `offset` of `dispositions` partition 3."""
    return Stored.read(3, offset, 5_000 + offset, encode(given))  # type: ignore[arg-type]


def test_a_linker_restored_from_its_table_holds_and_takes_what_it_did() -> None:
    table: dict[bytes, bytes] = {}
    links = CaseLinks(table, Policy(), partitions=8)
    links.link(DEVICE_ALERT, StoredAlert(encode(DEVICE_ALERT), b"[]"), NOW)
    taken, held = disposition(DEVICE_ALERT), disposition(LONE_ALERT, "false_positive")
    placed = disposition(LONE_ALERT, "confirmed", institution="ccb")
    for offset, given in enumerate((taken, held, placed), start=1):
        links.dispose(given, read_at(offset, given), NOW, offset)
    links.place(token(placed))
    links.forget()  # the partition was revoked, and comes back
    restored = links.linker()
    assert restored.outcome(DEVICE_ALERT.alert_id) == "confirmed"
    assert list(restored.held) == [LONE_ALERT.alert_id]
    assert links.stored(held) == read_at(2, held)._replace(sent_at=2)
    assert links.stored(placed).placed
    decided = to_ms(held.decided_at)
    awaited = Awaited(Position(decided, 5_002, 2), "identity")
    assert links.gate().awaiting == {"dispositions/3": {token(held): awaited}}
    links.drop(held)
    links.drop(placed)
    assert set(table) == {DEVICE_ALERT.alert_id.encode(), f"{taken.alert_id}/icbc".encode()}
    assert links.gate().awaiting == {"dispositions/3": {}}


def test_a_disposition_is_offered_to_every_partition_of_the_kind_it_acts_on() -> None:
    """Whether its alert is linked or not: the partition that raised the alert before it
    decides (`subjects.offered`)."""
    links = CaseLinks({}, Policy(), partitions=8)
    links.link(ACCOUNT_ALERT, StoredAlert(encode(ACCOUNT_ALERT), b"[]"), NOW)
    confirmed, appeal = disposition(ACCOUNT_ALERT), disposition(LONE_ALERT, "false_positive")
    taken = links.dispose(confirmed, read_at(4, confirmed), NOW, 1)
    held = links.dispose(appeal, read_at(5, appeal), NOW, 2)
    assert sorted(taken.forwards) == [("account", p) for p in range(8)] and taken.taken
    assert sorted(held.forwards) == [("identity", p) for p in range(8)] and not held.taken
    [offer] = taken.forwards[("account", 0)]
    assert (offer.key, offer.event, offer.offset) == (ACCOUNT_ALERT.alert_id.encode(), confirmed, 4)
    actioned = disposition(DEVICE_ALERT, "actioned")
    assert not links.dispose(actioned, read_at(6, actioned), NOW, 3).forwards


def test_what_a_message_read_again_offered_is_offered_again() -> None:
    """The offers sent as a disposition was read may not have landed when the worker died:
    the message read again offers it again; a copy of it written again offers nothing (it
    is not new)."""
    links = CaseLinks({}, Policy(), partitions=8)
    confirmed = disposition(ACCOUNT_ALERT)
    first = links.dispose(confirmed, read_at(4, confirmed), NOW, 1)
    assert len(first.forwards) == 8
    links.forget()
    again = links.dispose(confirmed, read_at(4, confirmed), NOW, 1)
    assert again.forwards == first.forwards
    assert not links.dispose(confirmed, read_at(9, confirmed), NOW, 2).forwards
    assert links.stored(confirmed) == read_at(4, confirmed)._replace(sent_at=1)


def test_a_disposition_held_and_taken_by_its_alert_sends_nothing_more() -> None:
    """What it does to the alert's subject the subject's partition decided when it was
    offered; taken, it is counted and no longer awaited."""
    links = CaseLinks({}, Policy(), partitions=8)
    confirmed = disposition(ACCOUNT_ALERT)
    links.dispose(confirmed, read_at(4, confirmed), NOW, 0)
    assert links.gate().awaiting["dispositions/3"]
    linked = links.link(ACCOUNT_ALERT, StoredAlert(encode(ACCOUNT_ALERT), b"[]"), NOW)
    assert not linked.forwards and linked.taken
    assert links.gate().awaiting["dispositions/3"] == {}


def test_an_alert_s_lane_is_its_subject_s_partition() -> None:
    links = CaseLinks({}, Policy(), partitions=8)
    assert links.lane(("device", "imei:1")) == ("device", partition_of(b"imei:1", 8))
