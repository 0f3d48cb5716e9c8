"""The worker end to end on the real broker: alerts, self-listing, watchlist, dead letters.

Expected alerts come from the pure engine applied to the same events in order, so the test
checks that the streaming shell adds and loses nothing (`detected_at` aside).
"""

import asyncio
import base64
import shutil
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from duanka.schemas.alerts import Alert, DeadLetter
from duanka.schemas.codec import decode, encode
from duanka.schemas.events import SimActivation, WatchlistEntry
from tests.factories import activation, alerts_in_order, identity, listing, sim_activation_fields
from tests.integration.conftest import BOOTSTRAP, Kafka, RunningWorker

pytestmark = pytest.mark.integration

START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


def expected_alerts(events: Iterable[SimActivation | WatchlistEntry]) -> list[dict[str, object]]:
    """What the core says for these events, applied in this order."""
    return [comparable(a) for a in alerts_in_order(events)]


def comparable(alert: Alert) -> dict[str, object]:
    return alert.model_dump(mode="json", exclude={"detected_at"})


def about(who: str) -> Callable[[Alert], bool]:
    return lambda alert: alert.subject.id == identity(who)


def of(who: str, alerts: list[Alert]) -> list[dict[str, object]]:
    return [comparable(a) for a in alerts if a.subject.id == identity(who)]


def burst(who: str, count: int) -> list[SimActivation]:
    """Activations 10 minutes apart, at two carriers: even when they arrive out of order,
    all are within the allowed lateness (1 h) of each other, so every one counts."""
    return [
        activation(who, START + timedelta(minutes=10 * i), n=i + 1, source=("cmcc", "cucc")[i % 2])
        for i in range(count)
    ]


def assert_burst_caught(who: str, events: list[SimActivation], alerts: list[Alert]) -> None:
    """Events spread over partitions reach the identity's partition in any order: the burst
    is caught all the same, though another of its events may be named as trigger."""
    [alert] = [a for a in alerts if about(who)(a)]
    [expected] = [a for a in expected_alerts(events) if a["rule"] == "bulk_sim_opener"]
    assert alert.rule == "bulk_sim_opener"
    assert alert.evidence.count == len(events)
    assert sorted(alert.evidence.event_ids) == sorted(e.event_id for e in events)
    assert [a.model_dump() for a in alert.actions] == expected["actions"]


async def produce(kafka: Kafka, worker: RunningWorker, events: Iterable[SimActivation]) -> None:
    for event in events:
        await kafka.send(worker.topic("sim-activations"), encode(event), key=event.identity)


async def test_bulk_opener_alert_and_self_listing(kafka: Kafka, worker: RunningWorker) -> None:
    farmer = burst("farmer-1", 6)
    near_miss = burst("near-miss-1", 4)
    await produce(kafka, worker, [*near_miss, *farmer])

    alerts = await kafka.alerts(worker, lambda a: len(of("farmer-1", a)) >= 2)
    assert of("farmer-1", alerts) == expected_alerts(farmer)
    assert [a["rule"] for a in of("farmer-1", alerts)] == [
        "bulk_sim_opener",
        "watchlisted_identity",
    ]
    assert of("near-miss-1", alerts) == []

    [opener] = [a for a in alerts if a.rule == "bulk_sim_opener" and about("farmer-1")(a)]
    carriers = sorted({action.institution for action in opener.actions if action.institution})
    assert carriers
    for carrier in carriers:  # each carrier's own topic has the alert naming it
        own = await kafka.read_until(
            worker.topic(f"alerts.{carrier}"),
            lambda vs: any(decode(Alert, v).alert_id == opener.alert_id for v in vs),
        )
        assert opener.alert_id in {decode(Alert, v).alert_id for v in own}

    listings = await kafka.read_until(
        worker.topic("watchlist"), lambda vs: any(identity("farmer-1").encode() in v for v in vs)
    )
    [entry] = [decode(WatchlistEntry, v) for v in listings if identity("farmer-1").encode() in v]
    assert entry.source == "duanka"
    assert entry.expires_at == entry.listed_at + timedelta(days=5 * 365)


async def test_authority_watchlist_and_tombstone(kafka: Kafka, worker: RunningWorker) -> None:
    who = identity("returner-1")
    entry = listing("returner-1", START - timedelta(days=100))
    events = burst("returner-1", 5)

    async def forwarded(count: int) -> None:
        """Wait until the worker has re-keyed `count` watchlist records for the identity: on
        one partition of the identity topic, what follows them is applied after them."""
        await kafka.read_until(
            f"{worker.prefix}duanka-identity-events",
            lambda vs: sum(1 for v in vs if v is None or who.encode() in v) >= count,
        )

    await kafka.send(worker.topic("watchlist"), encode(entry), key=who)
    await forwarded(1)
    await produce(kafka, worker, events[:1])
    await kafka.alerts(worker, lambda a: len(of("returner-1", a)) >= 1)
    await kafka.send(worker.topic("watchlist"), None, key=who)  # tombstone: listing lifted
    await forwarded(3)  # the listing, the first activation and the tombstone
    await produce(kafka, worker, events[1:])

    alerts = await kafka.alerts(worker, lambda a: len(of("returner-1", a)) >= 2)
    expected = expected_alerts([entry, events[0]]) + expected_alerts(events)[-1:]
    assert of("returner-1", alerts) == expected
    assert [a["rule"] for a in expected] == ["watchlisted_identity", "bulk_sim_opener"]


async def test_producer_partitioning_does_not_matter(kafka: Kafka, worker: RunningWorker) -> None:
    events = burst("scattered-1", 5)
    for partition, event in enumerate(events):  # each to another partition, under a wrong key
        await kafka.send(
            worker.topic("sim-activations"), encode(event), key=f"k{partition}", partition=partition
        )
    alerts = await kafka.alerts(worker, lambda a: len(of("scattered-1", a)) >= 1)
    assert_burst_caught("scattered-1", events, alerts)


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed")
async def test_events_from_kcat_give_the_same_alerts(kafka: Kafka, worker: RunningWorker) -> None:
    events = burst("kcat-1", 5)
    lines = "".join(f"{e.identity}\t{encode(e).decode()}\n" for e in events)
    kcat = await asyncio.create_subprocess_exec(
        *("kcat", "-P", "-b", BOOTSTRAP, "-t", worker.topic("sim-activations"), "-K", "\t"),
        stdin=asyncio.subprocess.PIPE,
    )
    await asyncio.wait_for(kcat.communicate(lines.encode()), 30)
    assert kcat.returncode == 0
    alerts = await kafka.alerts(worker, lambda a: len(of("kcat-1", a)) >= 1)
    assert of("kcat-1", alerts) == expected_alerts(events)


GARBAGE: list[tuple[str, bytes, bytes | None, str]] = [
    ("sim-activations", b"k1", b'{"event_id": "\xff\xfe"}', "not_utf8"),
    ("sim-activations", b"k2", orjson.dumps(sim_activation_fields())[:-7], "not_json"),
    (
        "sim-activations",
        b"k3",
        orjson.dumps(sim_activation_fields(occurred_at="2026-11-01T12:00:00")),
        "invalid",
    ),
    ("sim-activations", b"k4", orjson.dumps(sim_activation_fields(colour="red")), "invalid"),
    ("sim-activations", b"k5", None, "invalid"),
    (
        "sim-activations",
        b"k6",
        orjson.dumps(
            sim_activation_fields(occurred_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())
        ),
        "from_future",
    ),
    (
        "watchlist",
        identity("someone-else").encode(),
        encode(listing("garbage-1", START)),
        "key_mismatch",
    ),
    ("transfers", b"k8", b"[]", "invalid"),
]


async def test_bad_input_goes_to_dead_letters_and_the_worker_keeps_going(
    kafka: Kafka, worker: RunningWorker
) -> None:
    for topic, key, value, _ in GARBAGE:
        await kafka.send(worker.topic(topic), value, key=key)
    after = burst("after-garbage-1", 5)
    await produce(kafka, worker, after[:4])
    await kafka.send(
        worker.topic("sim-activations"), encode(after[4]), key=None
    )  # keys are optional

    raws = await kafka.read_until(worker.topic("dead-letters"), lambda vs: len(vs) >= len(GARBAGE))
    letters = [decode(DeadLetter, v) for v in raws]
    by_key = {letter.key: letter for letter in letters}
    assert len(letters) == len(GARBAGE)
    for topic, key, value, reason in GARBAGE:
        assert key is not None
        letter = by_key[key.decode()]
        assert letter.topic == worker.topic(topic)
        assert letter.reason == reason
        assert letter.error
        if value is None:
            assert letter.raw is None
        elif letter.raw_encoding == "base64":
            assert base64.b64decode(letter.raw or "") == value
        else:
            assert (letter.raw or "").encode() == value

    alerts = await kafka.alerts(worker, lambda a: len(of("after-garbage-1", a)) >= 1)
    assert_burst_caught("after-garbage-1", after, alerts)
    assert worker.process.poll() is None
