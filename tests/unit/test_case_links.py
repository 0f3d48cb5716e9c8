"""The worker's case linker restored from its table: alerts linked, dispositions taken and
held, each disposition with where it was read."""

from schemas.codec import encode
from services.detector.bundle import partition_of
from services.detector.case_links import CaseLinks, Stored, token
from services.detector.core.clock import to_ms
from services.detector.core.disposition_gate import Position
from services.detector.core.policy import Policy
from tests.unit.test_cases import NOW
from tests.unit.test_dispositions import DEVICE_ALERT, LONE_ALERT, disposition


def test_a_linker_restored_from_its_table_holds_and_takes_what_it_did() -> None:
    table: dict[bytes, bytes] = {}
    links = CaseLinks(table, Policy(), partitions=8)
    links.linker().link(DEVICE_ALERT, NOW)
    table[DEVICE_ALERT.alert_id.encode()] = encode(DEVICE_ALERT)
    taken, held = disposition(DEVICE_ALERT), disposition(LONE_ALERT, "false_positive")
    placed = disposition(LONE_ALERT, "confirmed", institution="ccb")
    for offset, given in enumerate((taken, held, placed)):
        links.linker().dispose(given, NOW)
        links.store(given, Stored(3, offset, 5_000 + offset, False, encode(given)))
    links.place(token(placed))
    links.forget()  # the partition was revoked, and comes back
    restored = links.linker()
    assert restored.outcome(DEVICE_ALERT.alert_id) == "confirmed"
    assert list(restored.held) == [LONE_ALERT.alert_id]
    assert links.stored(held) == Stored(3, 1, 5_001, False, encode(held))
    assert links.stored(placed).placed
    decided = to_ms(held.decided_at)
    assert links.gate().awaiting == {"dispositions/3": {token(held): Position(decided, 5_001, 1)}}
    links.drop(held)
    links.drop(placed)
    assert set(table) == {DEVICE_ALERT.alert_id.encode(), f"{taken.alert_id}/icbc".encode()}
    assert links.gate().awaiting == {"dispositions/3": {}}


def test_an_alert_s_lane_is_its_subject_s_partition() -> None:
    links = CaseLinks({}, Policy(), partitions=8)
    assert links.lane(("device", "imei:1")) == ("device", partition_of(b"imei:1", 8))
