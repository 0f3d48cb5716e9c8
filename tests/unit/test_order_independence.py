"""Order independence: the worker consumes its input topics and their partitions
concurrently, so while it catches up on a backlog it may see one topic, or one partition,
far ahead of another. As long as each partition keeps its own order, the same (rule,
subject) pairs must be caught as by in-order replay.

The worlds here have no dispositions: the case linker holds one for its alert only within
the grace, and an appeal lifts a listing when it reaches the identity (docs/limitations.md),
so what they do depends on how far apart the topics run.
"""

import itertools
import random
import zlib
from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from duanka.detector.core.engine import Engine
from duanka.detector.core.policy import Policy
from duanka.detector.core.watermark import Watermark
from duanka.replay.replayer import SWEEP_EVERY, Replayer
from duanka.schemas.alerts import Alert
from duanka.simulator.scenario import Scenario, ScenarioConfig, SimulatedMessage
from tests.unit.test_simulator import admitted

START = datetime(2026, 9, 1, tzinfo=UTC)
Caught = tuple[str, str, str]
CONFIG = {"merchants": 20, "employers": 10, "personal_accounts": 2_000}


def world(seed: int, events: int) -> tuple[list[SimulatedMessage], list[SimulatedMessage]]:
    """A dense little world: the back catalogue of corporate openings, then the rest."""
    config = ScenarioConfig(
        seed, START, seconds_per_event=60.0, injection_rate=0.05, dispositions=False, **CONFIG
    )
    scenario = Scenario(config)
    messages = [*itertools.islice(scenario.messages(), events), *scenario.pending()]
    catalogue = CONFIG["merchants"] + CONFIG["employers"]
    return messages[:catalogue], messages[catalogue:]


def listings_first(
    messages: list[SimulatedMessage],
) -> tuple[list[SimulatedMessage], list[SimulatedMessage]]:
    """The watchlist records, and the other messages. Watchlist records carry no event
    time: the worker puts them in order among an identity's events by when they were
    written (`tests/unit/test_listing_order.py`), and a listing read days after the events
    it covers alerts them only while they are still held (docs/limitations.md). So these
    properties, about events read at different paces, take them first."""
    listings = [m for m in messages if m.topic == "watchlist"]
    return listings, [m for m in messages if m.topic != "watchlist"]


def interleave(messages: list[SimulatedMessage], rng: random.Random) -> list[SimulatedMessage]:
    """A random merge of the per-topic sequences of events, each kept in its own order, with
    runs of one topic long enough to put it days ahead of the others.

    The authority's watchlist records come first (`listings_first`)."""
    listings, messages = listings_first(messages)
    queues = {
        topic: [m for m in messages if m.topic == topic]
        for topic in dict.fromkeys(m.topic for m in messages if m.topic != "watchlist")
    }
    merged: list[SimulatedMessage] = [*listings]
    while queues:
        topic = rng.choice(sorted(queues))
        take = rng.randint(1, 400)
        merged += queues[topic][:take]
        del queues[topic][:take]
        if not queues[topic]:
            del queues[topic]
    return merged


def caught(messages: list[SimulatedMessage], sweep_every: int = SWEEP_EVERY) -> set[Caught]:
    """The (rule, subject) pairs replay catches, expiring quiet subjects every
    `sweep_every` events."""
    replayer = Replayer(Engine(Policy()), sweep_every=sweep_every)
    pairs = set()
    for number, message in enumerate(messages, start=1):
        alerts, letter = replayer.replay_line(orjson.dumps(message.as_replay_line()), number)
        assert letter is None, letter
        pairs |= {(a.rule, a.subject.kind, a.subject.id) for a in alerts}
    return pairs


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), shuffle=st.integers(0, 2**32 - 1))
def test_topics_read_at_different_paces_catch_the_same_patterns(seed: int, shuffle: int) -> None:
    catalogue, rest = world(seed, 3_000)
    in_order = caught([*catalogue, *rest])
    assert len({rule for rule, _, _ in in_order}) >= 5  # the world is dense enough to matter
    assert caught([*catalogue, *interleave(rest, random.Random(shuffle))]) == in_order


def partitioned(
    messages: list[SimulatedMessage], partitions: int, rng: random.Random
) -> list[tuple[int, SimulatedMessage]]:
    """Each topic split into partitions by message key, as a producer's partitioner does,
    and all partitions merged at random, each kept in its own order, with runs long enough
    to put one partition days ahead of another of the same topic; the watchlist records
    first (`listings_first`)."""
    listings, messages = listings_first(messages)
    queues: dict[tuple[str, int], list[SimulatedMessage]] = {}
    for m in messages:
        queues.setdefault((m.topic, zlib.crc32(m.key.encode()) % partitions), []).append(m)
    merged = [(zlib.crc32(m.key.encode()) % partitions, m) for m in listings]
    while queues:
        source = rng.choice(sorted(queues))
        take = rng.randint(1, 200)
        merged += [(source[1], m) for m in queues[source][:take]]
        del queues[source][:take]
        if not queues[source]:
            del queues[source]
    return merged


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), shuffle=st.integers(0, 2**32 - 1))
def test_partitions_read_at_different_paces_catch_the_same_patterns(
    seed: int, shuffle: int
) -> None:
    """Lateness and watermarks are measured per input partition: a device whose SIMs come
    from identity-keyed partitions read days apart must still see its burst."""
    catalogue, rest = world(seed, 3_000)
    in_order = caught([*catalogue, *rest])
    four_each = Watermark(dict.fromkeys(("sim-activations", "account-opens", "transfers"), 4))
    replayer = Replayer(Engine(Policy()), sweep_every=50, watermark=four_each)
    found = set()
    for partition, message in [
        *((0, m) for m in catalogue),
        *partitioned(rest, 4, random.Random(shuffle)),
    ]:
        found |= {
            (a.rule, a.subject.kind, a.subject.id)
            for a in replayer.apply(admitted(message), partition)
        }
    assert replayer.stats.late == 0
    assert found == in_order


def jitter(messages: list[SimulatedMessage], rng: random.Random) -> list[SimulatedMessage]:
    """Each event delayed by up to 50 minutes of event time (less than the allowed lateness
    of 1 hour), as partitions read at slightly different paces deliver them; watchlist
    records, which have no event time, where they were (`listings_first`)."""
    delayed = [
        (m.at + timedelta(minutes=0 if m.topic == "watchlist" else rng.uniform(0, 50)), i, m)
        for i, m in enumerate(messages)
    ]
    return [m for _, _, m in sorted(delayed)]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), shuffle=st.integers(0, 2**32 - 1))
@example(seed=5915, shuffle=280907)  # the 6th SIM of a burst arriving before the 5th
def test_events_out_of_order_within_the_lateness_catch_the_same_patterns(
    seed: int, shuffle: int
) -> None:
    catalogue, rest = world(seed, 3_000)
    shuffled = jitter(rest, random.Random(shuffle))
    assert shuffled != rest
    assert caught([*catalogue, *shuffled]) == caught([*catalogue, *rest])


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), shuffle=st.integers(0, 2**32 - 1))
@example(seed=1, shuffle=37296)  # a listing read days late, when listings were interleaved
def test_expiring_quiet_subjects_while_topics_run_apart_changes_nothing(
    seed: int, shuffle: int
) -> None:
    """The watermark follows the slowest topic, so one topic read days ahead of another
    does not expire what the other still needs."""
    catalogue, rest = world(seed, 3_000)
    interleaved = [*catalogue, *interleave(rest, random.Random(shuffle))]
    assert caught(interleaved, sweep_every=25) == caught(interleaved)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    cuts=st.lists(st.integers(1, 3_100), max_size=40),
    sweep_every=st.integers(1, 400),
)
def test_how_the_input_is_cut_into_batches_changes_no_alert(
    seed: int, cuts: list[int], sweep_every: int
) -> None:
    catalogue, rest = world(seed, 3_000)
    lines = [(n, orjson.dumps(m.as_replay_line())) for n, m in enumerate([*catalogue, *rest])]
    one_at_a_time = Replayer(Engine(Policy()), sweep_every=len(lines) + 1)
    expected = [one_at_a_time.replay_line(line, n) for n, line in lines]
    batched = Replayer(Engine(Policy()), sweep_every=sweep_every)
    bounds = [0, *sorted(set(cuts)), len(lines)]
    found = [
        result
        for start, end in itertools.pairwise(bounds)
        for result in batched.replay_batch(lines[start:end])
    ]
    assert [ids(alerts) for alerts, _ in found] == [ids(alerts) for alerts, _ in expected]
    assert sum(map(len, (alerts for alerts, _ in expected))) > 0


def ids(alerts: list[Alert]) -> list[str]:
    return [a.alert_id for a in alerts]
