"""`EventOrder`: a subject partition's events, fed by several readers, applied in one order
that depends only on what was written, each once nothing before it can still arrive."""

import random

from hypothesis import given
from hypothesis import strategies as st

from duanka.detector.core.ordering import EventOrder, OriginProgress

ORIGINS = ("sim-activations/0", "sim-activations/1", "account-opens/0")
SLACK = 100
WRITTEN = 1_000_000
"""When the events of these tests were written to their input topics (epoch ms)."""


def order(**options: object) -> EventOrder[str]:
    return EventOrder(ORIGINS, SLACK, **options)  # type: ignore[arg-type]


def add(events: EventOrder[str], item: str, origin: str, at: int, written: int = WRITTEN) -> None:
    events.add(item, origin, at, at, written)


def read_to(*origins: str, at: int = WRITTEN + SLACK + 1) -> dict[str, OriginProgress]:
    """Origins read through write time `at` (a marker, say), no event newer than before."""
    return {o: OriginProgress(None, at) for o in origins}


def test_an_event_waits_until_every_origin_has_passed_its_time() -> None:
    events = order()
    add(events, "b", "sim-activations/1", 200)
    assert events.ready() == []
    add(events, "a", "sim-activations/0", 100)
    assert events.ready() == []  # account-opens/0 not heard of yet
    add(events, "c", "account-opens/0", 300)
    assert events.ready() == ["a"]  # sim-activations/0 has only come to 100
    add(events, "d", "sim-activations/0", 250)
    assert events.ready() == ["b"]  # sim-activations/1 has only come to 200
    assert len(events) == 2


def test_a_quiet_origin_passes_an_event_once_read_more_than_the_slack_past_its_write() -> None:
    events = order()
    add(events, "a", "sim-activations/0", 100)
    events.report({"sim-activations/1": OriginProgress(50, WRITTEN + 2 * SLACK)})
    events.report(read_to("account-opens/0", at=WRITTEN + SLACK))
    assert events.ready() == []  # account-opens/0 may still bring an event of 100 or before
    events.report(read_to("account-opens/0"))
    assert events.ready() == ["a"]


def test_an_origin_has_to_bring_a_newer_event_time_not_the_same() -> None:
    events = order()
    add(events, "a", "sim-activations/0", 100)
    events.report({"sim-activations/1": OriginProgress(100, WRITTEN)})
    events.report({"account-opens/0": OriginProgress(101, WRITTEN)})
    assert events.ready() == []  # sim-activations/1 may bring another event at 100
    events.report({"sim-activations/1": OriginProgress(101, WRITTEN)})
    assert events.ready() == ["a"]


def test_events_of_one_time_go_by_write_time_then_origin_then_offset() -> None:
    events = order()
    events.add("second", "sim-activations/1", 1, 100, WRITTEN)
    events.add("third", "sim-activations/1", 2, 100, WRITTEN)
    events.add("first", "account-opens/0", 9, 100, WRITTEN - 1)
    events.add("fourth", "sim-activations/0", 3, 100, WRITTEN + 1)
    events.report(read_to(*ORIGINS, at=WRITTEN + 2 + SLACK))
    assert events.ready() == ["first", "second", "third", "fourth"]


def test_reports_count_whoever_wrote_them_and_whenever() -> None:
    """What a report says is a fact about what was forwarded before it: progress never goes
    back, whatever report comes later."""
    events = order()
    add(events, "a", "sim-activations/0", 100)
    events.report({"sim-activations/1": OriginProgress(120, WRITTEN)})
    events.report({"sim-activations/1": OriginProgress(50, WRITTEN - 500)})  # an older one
    events.report(read_to("account-opens/0"))
    assert events.ready() == ["a"]


def test_drain_gives_everything_in_order() -> None:
    events = order()
    for item, at in (("c", 300), ("a", 100), ("b", 200)):
        add(events, item, "sim-activations/0", at)
    assert events.drain() == ["a", "b", "c"]
    assert len(events) == 0 and events.ready() == []


@given(st.integers(0, 2**32), st.integers(2, 5))
def test_interleaved_ordered_streams_come_out_in_event_time_order(seed: int, readers: int) -> None:
    """Each origin in order, the origins interleaved at random, as several workers write
    them: what is released is in event-time order, and once all are read to a marker
    everything is."""
    rng = random.Random(seed)
    origins = [f"transfers/{i}" for i in range(readers)]
    streams = {o: sorted(rng.sample(range(1000), 20)) for o in origins}
    events: EventOrder[int] = EventOrder(origins, SLACK)
    released: list[int] = []
    while any(streams.values()):
        origin = rng.choice([o for o, s in streams.items() if s])
        at = streams[origin].pop(0)
        events.add(at, origin, at, at, WRITTEN)
        released += events.ready()
    events.report({o: OriginProgress(None, WRITTEN + SLACK + 1) for o in origins})
    released += events.ready()
    assert released == sorted(released) and len(released) == 20 * readers


@given(st.integers(0, 2**32))
def test_the_order_does_not_depend_on_arrival_or_on_when_ready_is_asked(seed: int) -> None:
    """Three origins, each written in order with write times that follow event times
    within the slack: however their events and reports interleave, and whenever the
    partition asks what is ready, the same order comes out."""
    rng = random.Random(seed)

    def stream(origin: str) -> list[tuple[int, int, int]]:
        times = sorted(rng.sample(range(0, 5_000, 10), 15))
        return [(at, WRITTEN + at + rng.randint(0, SLACK), n) for n, at in enumerate(times)]

    streams = {o: stream(o) for o in ORIGINS}

    def run(shuffle: random.Random) -> list[str]:
        events = order()
        left = {o: list(s) for o, s in streams.items()}
        released: list[str] = []
        while any(left.values()):
            origin = shuffle.choice([o for o, s in left.items() if s])
            at, written, offset = left[origin].pop(0)
            events.add(f"{origin}@{offset}", origin, offset, at, written)
            if shuffle.random() < 0.3:
                quiet = shuffle.choice(ORIGINS)
                if not left[quiet]:
                    events.report(read_to(quiet, at=WRITTEN + 10_000))
            if shuffle.random() < 0.5:
                released += events.ready()
        events.report(read_to(*ORIGINS, at=WRITTEN + 10_000))
        return released + events.ready()

    first = run(random.Random(1))
    assert len(first) == 45
    assert run(random.Random(seed)) == first


def test_each_event_let_go_is_counted_by_how_surely_it_was_passed() -> None:
    reasons: list[str] = []
    events = order(released=reasons.append)
    add(events, "x", "sim-activations/0", 100)
    add(events, "y", "sim-activations/1", 150)
    add(events, "z", "account-opens/0", 200)
    add(events, "a", "sim-activations/0", 300)
    assert events.ready() == ["x", "y"]
    assert reasons == ["in_order"] * 2
    events.report(read_to("sim-activations/1"))
    assert events.ready() == ["z"]  # account-opens/0 may bring one before 300
    assert reasons == ["in_order"] * 2 + ["written"]


RECORDS = ("watchlist/0", "watchlist/1")


def with_records(lead: int = 0) -> EventOrder[str]:
    """An identity partition's order: events, and watchlist records in write time."""
    return order(record_origins=RECORDS, lead=lead)


def test_an_event_waits_until_the_watchlist_has_been_read_past_its_write_time() -> None:
    events = with_records()
    events.report(read_to(*ORIGINS))
    add(events, "sim", "sim-activations/0", 100)
    assert events.ready() == []  # a tombstone written just before may still come
    events.report(read_to(*RECORDS, at=WRITTEN))
    assert events.ready() == []  # one written in the same millisecond goes first
    events.report(read_to(*RECORDS, at=WRITTEN + 1))
    assert events.ready() == ["sim"]


def test_a_watchlist_record_goes_after_the_events_written_before_it_and_before_later_ones() -> None:
    events = with_records()
    add(events, "before", "sim-activations/0", 100, WRITTEN)
    events.add_record("lift", RECORDS[0], 1, WRITTEN + 1)
    add(events, "same ms", "sim-activations/1", 200, WRITTEN + 1)
    events.report(read_to(RECORDS[1], at=WRITTEN + 2))
    assert events.ready() == []  # account-opens/0 may still bring an event before the lift
    events.report({"account-opens/0": OriginProgress(150, WRITTEN + 1)})
    assert events.ready() == ["before"]  # sim-activations/0 may bring one before 200
    events.report({"sim-activations/0": OriginProgress(250, WRITTEN + 1)})
    assert events.ready() == ["lift"]  # watchlist/0 may bring another record of its ms
    add(events, "after", "account-opens/0", 300, WRITTEN + 2)
    events.report(read_to(*ORIGINS, *RECORDS, at=WRITTEN + 2 + SLACK + 1))
    assert events.ready() == ["same ms", "after"]


def test_a_watchlist_record_waits_for_an_event_written_before_it_that_is_held() -> None:
    events = with_records()
    events.report(read_to(*ORIGINS, *RECORDS, at=WRITTEN + 10 + SLACK + 1))
    add(events, "held", "sim-activations/0", 500, WRITTEN)
    add(events, "older", "sim-activations/1", 400, WRITTEN + 5)
    events.add_record("listing", RECORDS[0], 1, WRITTEN + 10)
    assert events.ready() == ["older", "held", "listing"]


def test_a_record_between_events_out_of_write_order_takes_the_newest_time_before_it() -> None:
    """An event written after a record but older than an event written before it: the
    record goes after both, so that neither waits for the other for ever."""
    events = with_records()
    add(events, "newer, written first", "sim-activations/0", 200, WRITTEN)
    events.add_record("listing", RECORDS[0], 1, WRITTEN + 10)
    add(events, "older, written after", "sim-activations/1", 100, WRITTEN + 20)
    events.report(read_to(*ORIGINS, *RECORDS, at=WRITTEN + 1_000))
    assert events.ready() == ["older, written after", "newer, written first", "listing"]


def test_records_of_two_watchlist_partitions_go_by_write_time() -> None:
    """duanka's own listings and an authority's of the same person can be on different
    watchlist partitions (different partitioners)."""
    events = with_records()
    events.report(read_to(*ORIGINS, at=WRITTEN + 1_000))
    events.add_record("lift", RECORDS[1], 1, WRITTEN + 5)
    assert events.ready() == []  # watchlist/0 may bring a record written before it
    events.add_record("listing", RECORDS[0], 1, WRITTEN)
    events.report(read_to(RECORDS[0], at=WRITTEN + 6))
    assert events.ready() == ["listing", "lift"]


def test_a_watchlist_record_counts_as_written_its_lead_before_its_timestamp() -> None:
    """Producers of different topics stamp what they write a little apart: a tombstone
    stamped 300 ms after an activation written after it still lifts the listing first."""
    events = with_records(lead=500)
    add(events, "long before", "sim-activations/0", 100, WRITTEN - 600)
    add(events, "just before", "sim-activations/1", 200, WRITTEN - 300)
    events.add_record("lift", RECORDS[0], 1, WRITTEN)
    events.report(read_to(*ORIGINS, *RECORDS, at=WRITTEN + 1_000))
    assert events.ready() == ["long before", "lift", "just before"]


def test_drain_gives_records_not_placed_last() -> None:
    events = with_records()
    events.add_record("listing", RECORDS[0], 1, WRITTEN)
    add(events, "sim", "sim-activations/0", 100, WRITTEN + 1)
    assert len(events) == 2 and set(events) == {"listing", "sim"}
    assert events.drain() == ["sim", "listing"]


def test_the_latest_record_known_comes_from_arrivals_and_reports_not_markers() -> None:
    events = order()
    assert events.recorded() is None
    add(events, "a", "sim-activations/0", 100, WRITTEN)
    events.report({"account-opens/0": OriginProgress(None, WRITTEN + 5_000)}, WRITTEN - 10)
    assert events.recorded() == WRITTEN
    events.report({}, WRITTEN + 10)
    assert events.recorded() == WRITTEN + 10


def test_what_events_were_written_is_forgotten_as_they_go() -> None:
    """The write order of released events is not kept: a long stream held and let go
    leaves nothing behind."""
    events = with_records()
    events.report(read_to(*ORIGINS, *RECORDS, at=WRITTEN + 10_000))
    for n in range(300):
        add(events, str(n), ORIGINS[n % 3], n, WRITTEN + n)
    assert len(events.ready()) == 300
    assert all(not w.seqs for w in events._by_write.values()) and not events._gone


def test_an_event_sent_back_out_of_write_order_still_places_a_record_after_it() -> None:
    """Events sent back to a partition's end, or read again, may arrive out of write order:
    a record written after them still goes after them."""
    events = with_records()
    add(events, "later", "sim-activations/0", 300, WRITTEN + 30)
    add(events, "sent back", "sim-activations/0", 200, WRITTEN + 10)
    events.add_record("listing", RECORDS[0], 1, WRITTEN + 20)
    add(events, "after", "sim-activations/1", 250, WRITTEN + 40)
    events.report(read_to(*ORIGINS, *RECORDS, at=WRITTEN + 1_000))
    assert events.ready() == ["sent back", "listing", "after", "later"]
