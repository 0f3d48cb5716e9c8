"""The worker's case linker restored from its table: alerts linked, dispositions taken and
held, each disposition with where it was read, and what it sent taken again when the
message that sent it is read again."""

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
    links.resume(0)
    links.link(DEVICE_ALERT, StoredAlert(encode(DEVICE_ALERT), b"[]"), NOW, 0)
    taken, held = disposition(DEVICE_ALERT), disposition(LONE_ALERT, "false_positive")
    placed = disposition(LONE_ALERT, "confirmed", institution="ccb")
    for offset, given in enumerate((taken, held, placed), start=1):
        links.dispose(given, read_at(offset, given), NOW, offset)
    links.place(token(placed))
    links.forget()  # the partition was revoked, and comes back
    links.resume(10)
    restored = links.linker()
    assert restored.outcome(DEVICE_ALERT.alert_id) == "confirmed"
    assert list(restored.held) == [LONE_ALERT.alert_id]
    assert links.stored(held) == read_at(2, held)
    assert links.stored(placed).placed
    decided = to_ms(held.decided_at)
    awaited = Awaited(Position(decided, 5_002, 2), "identity")
    assert links.gate().awaiting == {"dispositions/3": {token(held): awaited}}
    links.drop(held)
    links.drop(placed)
    assert set(table) == {DEVICE_ALERT.alert_id.encode(), f"{taken.alert_id}/icbc".encode()}
    assert links.gate().awaiting == {"dispositions/3": {}}


def test_what_a_message_read_again_sent_is_sent_again_in_its_place() -> None:
    """A confirmation sent as its disposition was read may not have landed when the worker
    died: the table says it was taken, and the disposition is read again. Until then its
    partition's progress is held at it, and no frontier places it without its alert."""
    links = CaseLinks({}, Policy(), partitions=8)
    links.resume(0)
    links.link(ACCOUNT_ALERT, StoredAlert(encode(ACCOUNT_ALERT), b"[]"), NOW, 0)
    confirmed = disposition(ACCOUNT_ALERT)
    first = links.dispose(confirmed, read_at(4, confirmed), NOW, 1)
    assert [len(f) for f in first.forwards.values()] == [1] and first.taken
    links.forget()
    links.resume(1)  # the commit had not passed it
    position = links.stored(confirmed).position(confirmed)
    assert links.relay()["account"].awaiting == {"dispositions/3": position}
    for lane in links.lanes():
        links.frontier(lane, {"dispositions/3": position})
    assert links.gate().awaiting["dispositions/3"]  # not placed: it is taken again
    again = links.dispose(confirmed, read_at(4, confirmed), NOW, 1)
    assert again.forwards == first.forwards and not again.taken  # counted once
    assert links.gate().relay("account")[1] == {}
    links.forget()
    links.resume(2)  # committed past it: delivered
    assert links.gate().relay("account")[1] == {}


def test_an_alert_read_again_sends_again_what_the_dispositions_it_took_derive() -> None:
    links = CaseLinks({}, Policy(), partitions=8)
    links.resume(0)
    confirmed = disposition(ACCOUNT_ALERT)
    links.dispose(confirmed, read_at(4, confirmed), NOW, 0)  # held: the alert is on its way
    first = links.link(ACCOUNT_ALERT, StoredAlert(encode(ACCOUNT_ALERT), b"[]"), NOW, 1)
    assert first.forwards and first.taken
    links.forget()
    links.resume(1)
    again = links.link(ACCOUNT_ALERT, StoredAlert(encode(ACCOUNT_ALERT), b"[]"), NOW, 1)
    assert again.forwards == first.forwards and not again.taken


def test_an_alert_s_lane_is_its_subject_s_partition() -> None:
    links = CaseLinks({}, Policy(), partitions=8)
    assert links.lane(("device", "imei:1")) == ("device", partition_of(b"imei:1", 8))
