"""`EventOrder`: a subject partition's events, fed by several readers, applied in event-time
order once every origin has passed them."""

import random

from hypothesis import given
from hypothesis import strategies as st

from services.detector.core.ordering import EventOrder, OriginProgress

ORIGINS = ("sim-activations/0", "sim-activations/1", "account-opens/0")
HOLD = 5.0
SLACK = 100
WRITTEN = 1_000_000
"""When the events of these tests were written to their input topics (epoch ms)."""


def order(generation: int = 3) -> EventOrder[str]:
    return EventOrder(ORIGINS, generation, HOLD, SLACK)


def add(events: EventOrder[str], item: str, origin: str, at: int, now: float = 0.0) -> None:
    events.add(item, origin, at, WRITTEN, now)


def caught_up(*origins: str, at: int = WRITTEN + SLACK) -> dict[str, OriginProgress]:
    """Origins caught up as of a high watermark fetched `at` (epoch ms)."""
    return {o: OriginProgress(None, caught_up_at=at) for o in origins}


def test_an_event_waits_until_every_origin_has_passed_its_time() -> None:
    events = order()
    add(events, "b", "sim-activations/1", 200)
    assert events.ready(0.0) == []
    add(events, "a", "sim-activations/0", 100)
    assert events.ready(0.0) == []  # account-opens/0 not heard of yet
    add(events, "c", "account-opens/0", 300)
    assert events.ready(0.0) == ["a"]  # sim-activations/0 has only come to 100
    add(events, "d", "sim-activations/0", 250)
    assert events.ready(0.0) == ["b"]  # sim-activations/1 has only come to 200
    assert len(events) == 2


def test_a_caught_up_origin_lets_go_only_of_events_written_a_slack_before_its_fetch() -> None:
    events = order()
    add(events, "a", "sim-activations/0", 100)
    events.report(3, {"sim-activations/1": OriginProgress(50, caught_up_at=None)})
    events.report(3, caught_up("account-opens/0"))
    assert events.ready(0.0) == []  # sim-activations/1 is at 50 and not caught up
    events.report(3, caught_up("sim-activations/1", at=WRITTEN + SLACK - 1))
    assert events.ready(0.0) == []  # its high watermark may predate the event
    events.report(3, caught_up("sim-activations/1"))
    assert events.ready(0.0) == ["a"]
    add(events, "b", "sim-activations/0", 200)
    events.report(3, {"account-opens/0": OriginProgress(None, caught_up_at=None)})
    assert events.ready(0.0) == []  # a caught-up report holds only until the next one


def test_reports_are_believed_only_from_the_current_generation() -> None:
    events = order(generation=3)
    add(events, "a", "sim-activations/0", 100)
    events.report(2, caught_up(*ORIGINS[1:]))  # before the rebalance
    assert events.ready(0.0) == []
    events.report(2, {"sim-activations/1": OriginProgress(120, caught_up_at=WRITTEN * 2)})
    events.report(4, caught_up("account-opens/0"))
    assert events.ready(0.0) == ["a"]  # the newest time of an old report is still a fact


def test_events_waiting_too_long_go_in_order_with_those_before_them() -> None:
    events = order()
    add(events, "late", "sim-activations/0", 500, now=0.0)
    add(events, "early", "sim-activations/1", 100, now=1.0)
    add(events, "later", "sim-activations/1", 600, now=2.0)
    assert events.ready(HOLD - 0.1) == []
    assert events.ready(HOLD) == ["early", "late"]
    assert events.ready(HOLD + 2.0) == ["later"]


def test_drain_gives_everything_in_event_time_order() -> None:
    events = order()
    for item, at in (("c", 300), ("a", 100), ("b", 200)):
        add(events, item, "sim-activations/0", at)
    assert events.drain() == ["a", "b", "c"]
    assert len(events) == 0 and events.ready(HOLD * 2) == []


@given(st.integers(0, 2**32), st.integers(2, 5))
def test_interleaved_ordered_streams_come_out_in_event_time_order(seed: int, readers: int) -> None:
    """Each origin in order, the origins interleaved at random, as several workers write
    them: what is released is in event-time order, and once all are caught up everything
    is."""
    rng = random.Random(seed)
    origins = [f"transfers/{i}" for i in range(readers)]
    streams = {o: sorted(rng.sample(range(1000), 20)) for o in origins}
    events: EventOrder[int] = EventOrder(origins, 1, HOLD, SLACK)
    released: list[int] = []
    while any(streams.values()):
        origin = rng.choice([o for o, s in streams.items() if s])
        at = streams[origin].pop(0)
        events.add(at, origin, at, WRITTEN, now=0.0)
        released += events.ready(0.0)
    events.report(1, {o: OriginProgress(None, caught_up_at=WRITTEN + SLACK) for o in origins})
    released += events.ready(0.0)
    assert released == sorted(released) and len(released) == 20 * readers


def test_each_event_let_go_is_counted_by_how_surely_it_was_passed() -> None:
    reasons: list[str] = []
    events = EventOrder(ORIGINS, 3, HOLD, SLACK, released=reasons.append)
    for origin in ORIGINS:
        add(events, f"first {origin}", origin, 100)
    add(events, "a", "sim-activations/0", 200)
    events.report(3, caught_up("sim-activations/1", "account-opens/0"))
    add(events, "b", "sim-activations/1", 300, now=1.0)
    assert events.ready(1.0) == [*(f"first {o}" for o in ORIGINS), "a"]
    assert reasons == ["in_order"] * 3 + ["caught_up"]
    events.report(3, {"account-opens/0": OriginProgress(None, caught_up_at=None)})
    assert events.ready(1.0 + HOLD) == ["b"]
    assert reasons[-1] == "overdue"


def test_a_partition_taken_over_applies_nothing_before_reading_to_its_end() -> None:
    events = EventOrder(ORIGINS, 3, HOLD, SLACK, backlog_end=10)
    events.report(3, caught_up(*ORIGINS))
    events.read(7)
    add(events, "later", "sim-activations/0", 300)
    assert events.ready(0.0) == []  # the last holder may have sent held events to the end
    events.read(8)
    add(events, "requeued", "sim-activations/0", 100)
    events.read(9)  # the end as it was found
    assert events.ready(0.0) == ["requeued", "later"]


def test_a_partition_taken_over_still_lets_go_of_what_waited_too_long() -> None:
    events = EventOrder(ORIGINS, 3, HOLD, SLACK, backlog_end=10)
    events.report(3, caught_up(*ORIGINS))
    events.read(5)
    add(events, "a", "sim-activations/0", 100)
    assert events.ready(HOLD) == ["a"]


RECORDS = ("watchlist/0",)


def with_records() -> EventOrder[str]:
    """An identity partition's order: events, and watchlist records in write time."""
    return EventOrder(ORIGINS, 3, HOLD, SLACK, record_origins=RECORDS)


def test_an_event_waits_until_the_watchlist_has_passed_the_time_it_was_written() -> None:
    events = with_records()
    events.report(3, caught_up(*ORIGINS))
    events.add("sim", "sim-activations/0", 100, WRITTEN, 0.0)
    assert events.ready(0.0) == []  # a tombstone written just before may still come
    events.report(3, caught_up(*RECORDS, at=WRITTEN + SLACK - 1))
    assert events.ready(0.0) == []
    events.report(3, {RECORDS[0]: OriginProgress(None, None, written=WRITTEN)})
    assert events.ready(0.0) == ["sim"]


def test_a_watchlist_record_goes_after_the_events_written_before_it_and_before_later_ones() -> None:
    events = with_records()
    events.add("before", "sim-activations/0", 100, WRITTEN, 0.0)
    events.add_record("lift", RECORDS[0], WRITTEN + 1, 0.0)
    events.add("same ms", "sim-activations/1", 200, WRITTEN + 1, 0.0)
    assert events.ready(0.0) == []  # account-opens/0 may still bring an event before 100
    events.report(3, {"account-opens/0": OriginProgress(150, None, WRITTEN + 1)})
    assert events.ready(0.0) == ["before"]  # sim-activations/0 may bring one before the lift
    events.report(3, {"sim-activations/0": OriginProgress(100, None, WRITTEN + 1)})
    assert events.ready(0.0) == ["lift"]  # sim-activations/0 may bring one before 200
    events.add("after", "account-opens/0", 300, WRITTEN + 2, 0.0)
    events.report(3, caught_up(*ORIGINS, *RECORDS, at=WRITTEN + 2 + SLACK))
    assert events.ready(0.0) == ["same ms", "after"]


def test_a_watchlist_record_waits_for_an_event_written_before_it_that_is_held() -> None:
    events = with_records()
    events.report(3, caught_up(*ORIGINS, *RECORDS, at=WRITTEN + 10 + SLACK))
    events.add("held", "sim-activations/0", 500, WRITTEN, 0.0)
    events.add("older", "sim-activations/1", 400, WRITTEN + 5, 0.0)
    events.add_record("listing", RECORDS[0], WRITTEN + 10, 0.0)
    assert events.ready(0.0) == ["older", "held", "listing"]


def test_records_and_events_waiting_too_long_go_and_drain_gives_records_last() -> None:
    events = with_records()
    events.add_record("listing", RECORDS[0], WRITTEN, 0.0)
    events.add("sim", "sim-activations/0", 100, WRITTEN + 1, 1.0)
    assert events.ready(HOLD - 0.1) == []
    assert events.ready(HOLD) == ["listing"]
    assert events.ready(HOLD + 1.0) == ["sim"]
    events.add_record("lift", RECORDS[0], WRITTEN + 2, 2.0)
    events.add("open", "account-opens/0", 200, WRITTEN + 3, 2.0)
    assert len(events) == 2 and set(events) == {"lift", "open"}
    assert events.drain() == ["open", "lift"]


def test_a_watchlist_record_counts_as_written_its_lead_before_its_timestamp() -> None:
    """Producers of different topics stamp what they write a little apart: a tombstone
    stamped 300 ms after an activation written after it still lifts the listing first."""
    events = EventOrder(ORIGINS, 3, HOLD, SLACK, record_origins=RECORDS, lead=500)
    events.add("long before", "sim-activations/0", 100, WRITTEN - 600, 0.0)
    events.add("just before", "sim-activations/1", 200, WRITTEN - 300, 0.0)
    events.add_record("lift", RECORDS[0], WRITTEN, 0.0)
    events.report(3, caught_up(*ORIGINS, *RECORDS, at=WRITTEN + SLACK))
    assert events.ready(0.0) == ["long before", "lift", "just before"]


def test_what_events_were_written_is_forgotten_as_they_go() -> None:
    """The write times of released events are not kept: not at all where no watchlist
    record can come, and not once nothing is held where one can."""
    for events in (order(), with_records()):
        events.report(3, caught_up(*ORIGINS, *RECORDS, at=WRITTEN + 10_000))
        for n in range(100):
            add(events, str(n), "sim-activations/0", n)
        assert len(events.ready(0.0)) == 100
        assert events._events_written == [] and events._unheld == set()
