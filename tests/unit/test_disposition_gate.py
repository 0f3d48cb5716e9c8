"""The case linker's gate: progress relayed as ingest reported it, with the last
disposition read; a disposition awaiting its alert is placed without it once every subject
partition of its kind has answered that it got there, however long they take."""

from duanka.detector.core.disposition_gate import Awaited, DispositionGate, Position
from duanka.detector.core.ordering import EventOrder, OriginProgress

LANES = frozenset({("account", 0), ("account", 1), ("identity", 0)})
ORIGIN = "dispositions/0"
OTHER = "dispositions/1"
FIRST = Position(1_000, 50_000, 7)
SECOND = Position(2_000, 51_000, 9)


def gate() -> DispositionGate:
    relay = DispositionGate(LANES)
    relay.report({ORIGIN: OriginProgress(900, 49_000), OTHER: OriginProgress(None, 49_500)})
    return relay


def test_progress_is_relayed_as_ingest_reported_it_while_nothing_is_awaited() -> None:
    relay = gate()
    relay.report({ORIGIN: OriginProgress(800, 48_000)})  # an older report changes nothing
    assert relay.relay("account") == (
        {ORIGIN: OriginProgress(900, 49_000), OTHER: OriginProgress(None, 49_500)},
        {},
        {},
    )


def test_the_first_disposition_awaited_is_asked_of_its_kind_and_holds_nothing_back() -> None:
    """A confirmation is asked of the account partitions only: it acts on no identity."""
    relay = gate()
    relay.await_alert(ORIGIN, "a/icbc", FIRST, "account")
    relay.await_alert(ORIGIN, "b/icbc", SECOND, "account")
    relay.report({ORIGIN: OriginProgress(2_500, 60_000)})
    reported = {ORIGIN: OriginProgress(2_500, 60_000), OTHER: OriginProgress(None, 49_500)}
    assert relay.relay("account") == (reported, {ORIGIN: FIRST}, {})
    assert relay.relay("identity") == (reported, {}, {})
    relay.taken(ORIGIN, "a/icbc")  # its alert was linked
    assert relay.relay("account")[1] == {ORIGIN: SECOND}


def test_the_last_disposition_read_is_relayed_as_where_everything_before_was_offered() -> None:
    relay = gate()
    relay.read(ORIGIN, FIRST)
    relay.read(ORIGIN, SECOND)
    origins, _, through = relay.relay("identity")
    assert through == {ORIGIN: SECOND}
    assert origins[ORIGIN] == OriginProgress(SECOND.at, SECOND.written)


def test_a_disposition_acting_on_no_subject_holds_nothing_back_but_is_answered_for() -> None:
    relay = gate()
    relay.await_alert(ORIGIN, "a/icbc", FIRST, None)
    relay.report({ORIGIN: OriginProgress(2_500, 60_000)})
    for kind in ("account", "identity"):
        assert relay.relay(kind) == (
            {ORIGIN: OriginProgress(2_500, 60_000), OTHER: OriginProgress(None, 49_500)},
            {ORIGIN: FIRST},
            {},  # asked, not held
        )
    for lane in sorted(LANES)[:-1]:
        relay.frontier(lane, ORIGIN, FIRST)
    assert relay.placed() == []  # every kind's partitions answer for it
    relay.frontier(sorted(LANES)[-1], ORIGIN, FIRST)
    assert relay.placed() == [(ORIGIN, "a/icbc")]


def test_a_disposition_is_placed_without_its_alert_once_every_lane_has_reached_it() -> None:
    relay = gate()
    relay.await_alert(ORIGIN, "a/icbc", FIRST, "account")
    relay.await_alert(ORIGIN, "b/icbc", SECOND, "account")
    relay.frontier(("account", 0), ORIGIN, FIRST)
    relay.frontier(("account", 1), OTHER, SECOND)  # another partition's
    assert relay.placed() == []
    relay.frontier(("account", 1), ORIGIN, FIRST)
    assert relay.placed() == [(ORIGIN, "a/icbc")]  # identity partitions need not answer
    assert relay.relay("account")[1] == {ORIGIN: SECOND}  # asked of every lane again
    relay.frontier(("account", 0), ORIGIN, SECOND)
    relay.frontier(("account", 1), ORIGIN, SECOND)
    assert relay.placed() == [(ORIGIN, "b/icbc")]
    assert relay.relay("account")[1] == {}


def test_each_kind_s_partitions_answer_in_the_order_dispositions_were_read() -> None:
    relay = gate()
    relay.await_alert(ORIGIN, "a/icbc", FIRST, "account")
    relay.await_alert(ORIGIN, "b/icbc", SECOND, "identity")
    relay.frontier(("identity", 0), ORIGIN, SECOND)
    assert relay.placed() == [(ORIGIN, "b/icbc")]  # the account one does not hold it


def test_an_older_frontier_does_not_undo_a_newer_one() -> None:
    relay = gate()
    relay.await_alert(ORIGIN, "b/icbc", SECOND, "identity")
    relay.frontier(("identity", 0), ORIGIN, SECOND)
    relay.frontier(("identity", 0), ORIGIN, FIRST)  # a worker that held it before
    assert relay.placed() == [(ORIGIN, "b/icbc")]


def test_a_restored_gate_awaits_again_in_the_order_they_were_read() -> None:
    relay = DispositionGate(LANES)
    relay.restore(
        [
            (ORIGIN, "b/icbc", Awaited(SECOND, "account")),
            (ORIGIN, "a/icbc", Awaited(FIRST, "account")),
        ]
    )
    assert relay.relay("account") == ({}, {ORIGIN: FIRST}, {})


def test_a_subject_partition_reaches_a_disposition_once_nothing_before_it_can_come() -> None:
    """What a subject partition answers: everything that goes before the disposition has
    been let go, and nothing that goes before it can still arrive."""
    events: EventOrder[str] = EventOrder(("transfers/0", "transfers/1", ORIGIN), 100)
    events.add("early", "transfers/0", 1, 900, 49_800)
    events.add("late", "transfers/0", 2, 1_500, 49_900)
    events.report({ORIGIN: OriginProgress(FIRST.at, FIRST.written)})
    assert not events.reached(ORIGIN, *FIRST)  # transfers/1 may bring something older
    events.report({"transfers/1": OriginProgress(950, 49_850)})
    assert not events.reached(ORIGIN, *FIRST)  # ... and still may
    events.report({"transfers/1": OriginProgress(1_001, 49_900)})
    assert not events.reached(ORIGIN, *FIRST)  # "early" is not let go yet
    assert events.ready() == ["early"]
    assert events.reached(ORIGIN, *FIRST)
    assert events.ready() == []  # "late" waits for the disposition
    events.add("derived", ORIGIN, FIRST.offset, FIRST.at, FIRST.written)
    events.report({ORIGIN: OriginProgress(1_600, 51_000)})
    assert events.ready() == ["derived"]
    events.report({"transfers/1": OriginProgress(1_501, 50_000)})
    assert events.ready() == ["late"]


def test_an_event_of_a_relayed_origin_neither_moves_it_on_nor_passes_it_by_itself() -> None:
    """A linker that took over offers again what it offered before: a later disposition
    may come before an earlier one, so only the relay says how far the origin has come."""
    events: EventOrder[str] = EventOrder(("transfers/0", ORIGIN), 100, relayed=[ORIGIN])
    events.add("later", ORIGIN, 9, 2_000, 51_000)
    events.add("payment", "transfers/0", 1, 1_500, 50_500)
    events.report({"transfers/0": OriginProgress(3_000, 60_000)})
    assert events.ready() == []  # the relay has not said the origin is past 1,500
    events.report({ORIGIN: OriginProgress(FIRST.at, FIRST.written)})  # awaiting FIRST
    assert events.ready() == []  # FIRST (at 1,000) may still come before the payment
    events.add("earlier", ORIGIN, FIRST.offset, FIRST.at, FIRST.written)
    events.report({ORIGIN: OriginProgress(2_500, 52_000)})
    assert events.ready() == ["earlier", "payment", "later"]


def test_an_event_of_the_last_disposition_s_time_written_just_before_it_goes_first() -> None:
    """A relayed origin has relayed everything before the last disposition read, also an
    activation of the same millisecond written just before it, which neither the origin's
    newest time nor the write slack passes. (When the relay held an origin short of a
    disposition awaited, without that position the partition waited for the disposition
    and the linker for the partition's answer: a million simulated events stopped there.)"""
    events: EventOrder[str] = EventOrder(("sim-activations/0", ORIGIN), 100, relayed=[ORIGIN])
    events.add("activation", "sim-activations/0", 7, FIRST.at, FIRST.written - 1)
    events.add("after", "sim-activations/0", 8, FIRST.at, FIRST.written + 1)
    events.report({"sim-activations/0": OriginProgress(FIRST.at + 1, FIRST.written + 200)})
    events.report({ORIGIN: OriginProgress(FIRST.at, FIRST.written)})  # position unsaid
    assert events.ready() == []
    assert not events.reached(ORIGIN, FIRST.at, FIRST.written, FIRST.offset)
    events.report({ORIGIN: OriginProgress(FIRST.at, FIRST.written)}, through={ORIGIN: FIRST})
    assert events.ready() == ["activation"]  # "after" comes after the disposition
    assert events.reached(ORIGIN, FIRST.at, FIRST.written, FIRST.offset)


def test_what_the_linker_derives_is_a_record_known_until_its_origin_is_read_past_it() -> None:
    """A linker that moved to another worker forgets how far the `dispositions` partitions
    were read, and their readers, restarted too, have nothing new to report: only markers,
    read back, tell it again. They are written while a record known is not far enough
    behind them (`progress.reach`), so something derived and held here must count as one
    (the simulation stalled on seed 8894 when it did not)."""
    events: EventOrder[str] = EventOrder(("transfers/0", ORIGIN), 100, relayed=[ORIGIN])
    assert events.recorded() is None
    events.add("derived", ORIGIN, FIRST.offset, FIRST.at, FIRST.written)
    assert events.recorded() == FIRST.written
    assert events.ready() == []
    events.report({ORIGIN: OriginProgress(None, FIRST.written + 101)})  # a marker read back
    events.report({"transfers/0": OriginProgress(None, FIRST.written + 101)})
    assert events.ready() == ["derived"]


def test_a_watchlist_record_is_placed_among_input_events_only() -> None:
    """A disposition written before a record may or may not derive anything (its alert may
    not have been raised before it): the record's place cannot wait for that, so it is
    placed among the input events alone."""
    events: EventOrder[str] = EventOrder(
        ("sim-activations/0", ORIGIN),
        100,
        record_origins=["watchlist/0"],
        relayed=[ORIGIN],
        lead=50,
    )
    events.add("activation", "sim-activations/0", 1, 1_000, 50_000)
    events.add("decision", ORIGIN, 4, 1_500, 50_100)
    events.add_record("listing", "watchlist/0", 1, 50_200)  # counts as written at 50,150
    events.report({"sim-activations/0": OriginProgress(2_000, 60_000)})
    events.report({"watchlist/0": OriginProgress(None, 60_000)})
    events.report({ORIGIN: OriginProgress(1_400, 50_100)})  # awaiting one at 1,400
    assert events.ready() == ["activation", "listing"]
    events.report({ORIGIN: OriginProgress(3_000, 60_000)})
    assert events.ready() == ["decision"]
