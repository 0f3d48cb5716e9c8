"""Over 10,000 hostile messages (a fixed corpus and hypothesis-generated mutations of valid
events) interleaved with a simulated stream: every one of them ends in `dead-letters` with
its reason, every valid event is processed (the alerts are exactly replay's), re-delivered
events are not counted twice, the worker never restarts, and its memory stays bounded."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from duanka.detector.core.engine import Engine
from duanka.detector.core.intake import InputTopic, admit
from duanka.detector.core.policy import Policy
from duanka.replay.replayer import Replayer
from duanka.schemas.alerts import Alert, DeadLetter
from duanka.schemas.codec import DecodeError, encode
from duanka.schemas.dispositions import Disposition
from duanka.simulator.cli import DistinctTimestamps
from tests.chaos.conftest import (
    MAX_RSS_MIB,
    RssSampler,
    drain,
    simulated_history,
)
from tests.factories import activation, identity
from tests.integration.conftest import (
    BOOTSTRAP,
    Kafka,
    assert_same_alerts,
    delete_topics,
    new_prefix,
    require_broker,
    start_worker,
    stop_worker,
)

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

VALID_EVENTS = 5_000
GENERATED = 10_000
"""Hostile messages that hypothesis must make, at least."""
MADE = GENERATED + GENERATED // 50
"""Mutations made: up to about 0.5% come out valid by chance (an id replaced by another
valid one), and how many depends on the template, whose times follow the clock."""
HUGE = 10 * 1024 * 1024
NOW = datetime.now(UTC)


@dataclass(frozen=True)
class Message:
    """One message to send to an input topic."""

    topic: InputTopic
    key: bytes | None
    value: bytes | None
    at: datetime
    """The event's time; for a hostile message, that of the valid event sent before it."""


def valid_stream(tmp_path: Path) -> list[Message]:
    """A simulated stream, one message per event (a null value is a tombstone), as
    `duanka simulate --out` writes it."""
    _, history = simulated_history(tmp_path, VALID_EVENTS, seed=53)
    messages: list[Message] = []
    for line in history.read_bytes().splitlines():
        record = orjson.loads(line)
        value = record["value"]
        key = record.get("key")
        if value is None:  # a tombstone: no time of its own, that of the message before it
            raw, at = None, messages[-1].at
        else:
            raw = orjson.dumps(value)
            when = value.get("occurred_at") or value.get("decided_at") or value["listed_at"]
            at = datetime.fromisoformat(when)
        messages.append(Message(record["topic"], None if key is None else key.encode(), raw, at))
    return messages


def redelivered_burst(at: datetime) -> list[Message]:
    """Four activations by one identity, one short of `bulk_sim_opener`, each delivered
    three times: counted twice, they would cross the threshold."""
    events = [activation("redelivered-seller", at + timedelta(minutes=i), n=i) for i in range(4)]
    return [
        Message("sim-activations", None, encode(event), event.occurred_at)
        for event in events
        for _ in range(3)
    ]


def corpus(template: dict[str, Any]) -> Iterator[tuple[InputTopic, bytes | None, bytes | None]]:
    """Hand-written hostile messages, built around a valid transfer `template`."""

    def variant(**changes: Any) -> bytes:
        return orjson.dumps({**template, **changes})

    def amount(literal: bytes) -> bytes:
        """The template with `amount_minor` written as `literal` (JSON or not)."""
        return variant(amount_minor=1).replace(b'"amount_minor":1', b'"amount_minor":' + literal)

    yield "transfers", b"k", b"\xff\xfe\x00not utf-8"
    yield "transfers", b"k", variant()[:-7]  # truncated JSON
    yield "transfers", b"k", b"[" * 100_000 + b"]" * 100_000  # deeply nested
    yield "transfers", b"k", b'{"a":' * 5_000 + b"1" + b"}" * 5_000
    yield "transfers", b"k", b'{"event_id": "' + b"x" * HUGE + b'"}'  # 10 MB
    yield "transfers", None, b"\x00" * HUGE
    yield "transfers", b"k", amount(b"NaN")
    yield "transfers", b"k", amount(b"Infinity")
    yield "transfers", b"k", amount(b"-Infinity")
    yield "transfers", b"k", amount(b"1" * 40)
    yield "transfers", b"k", amount(b"1e400")
    yield "transfers", b"k", variant(amount_minor="100")
    yield "transfers", b"k", variant(amount_minor=12.5)
    yield "transfers", b"k", variant(amount_minor=True)
    yield "transfers", b"k", variant(amount_minor=0)
    yield "transfers", b"k", variant(amount_minor=-1)
    yield "transfers", b"k", variant(amount_minor=2**63 - 1)
    yield "transfers", b"k", variant(to_account=template["from_account"])
    yield "transfers", b"k", variant(channel="carrier_pigeon")
    yield "transfers", b"k", variant(currency="XXXX")
    yield "transfers", b"k", variant(unexpected="field")
    yield "transfers", b"k", variant(occurred_at="2026-11-01T12:00:00")  # naive
    yield "transfers", b"k", variant(occurred_at="9999-12-31T23:59:59Z")  # far future
    yield "transfers", b"k", variant(occurred_at="yesterday")
    yield "transfers", b"k", variant(event_id=None)
    yield "transfers", b"k", variant(source=["icbc"])
    yield "transfers", b"k", b"null"
    yield "transfers", b"k", b'"a string"'
    yield "transfers", b"k", b"[]"
    yield "transfers", b"k", b""
    yield "transfers", b"k", None
    yield "sim-activations", None, variant()  # a transfer on the wrong topic
    yield "watchlist", b"", None  # a tombstone without an identity
    yield "watchlist", b"not-an-identity", None
    decided = {"institution": "icbc", "outcome": "confirmed", "decided_at": template["occurred_at"]}
    never_raised = {"alert_id": "0" * 32, **decided}
    yield "dispositions", None, orjson.dumps(never_raised)  # rejected by the case linker
    yield "dispositions", b"0" * 32, orjson.dumps({**never_raised, "outcome": "guilty"})
    yield "dispositions", b"f" * 32, orjson.dumps(never_raised)  # keyed by another alert
    yield "dispositions", None, orjson.dumps({**never_raised, "note": "x" * 501})
    yield "dispositions", None, variant()  # a transfer on the wrong topic
    yield "dispositions", b"0" * 32, None


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_VALUES = (
    SCALARS
    | st.lists(SCALARS, max_size=3)
    | st.dictionaries(st.text(), st.lists(SCALARS, max_size=2) | SCALARS, max_size=3)
)


def generated(template: dict[str, Any], count: int) -> list[bytes]:
    """`count` hypothesis-made mutations of a valid transfer, each broken on purpose: a
    field of the wrong type or value, a missing field, an unknown field, or random bytes."""
    fields = sorted(template)
    made: list[bytes] = []

    wrong_value = st.tuples(st.sampled_from(fields), JSON_VALUES).map(
        lambda fv: orjson.dumps({**template, fv[0]: fv[1]})
    )
    missing = st.sampled_from([f for f in fields if f != "currency"]).map(
        lambda f: orjson.dumps({k: v for k, v in template.items() if k != f})
    )
    unknown = st.tuples(st.text(min_size=1).filter(lambda k: k not in template), JSON_VALUES).map(
        lambda kv: orjson.dumps({**template, kv[0]: kv[1]})
    )
    noise = st.binary(max_size=300)

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(st.one_of(wrong_value, missing, unknown, noise))
    def collect(raw: bytes) -> None:
        made.append(raw)

    collect()
    return made


async def make_room_for_huge_messages(prefix: str) -> None:
    """The brokers refuse messages over 1 MiB by default; a worker must survive the ones a
    topic configured otherwise lets through."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    f"{prefix}{topic}",
                    {"max.message.bytes": str(2 * HUGE)},
                )
                for topic in ("transfers", "sim-activations")
            ]
        )
    finally:
        await admin.close()


async def test_hostile_input_is_dead_lettered_and_valid_input_still_detected(
    tmp_path: Path,
) -> None:
    require_broker()
    valid = valid_stream(tmp_path)
    template = next(orjson.loads(m.value or b"") for m in valid if m.topic == "transfers")
    handmade = list(corpus(template))
    hostile: list[tuple[InputTopic, bytes | None, bytes | None]] = [
        *handmade,
        *(("transfers", b"k", raw) for raw in generated(template, MADE)),
    ]
    # hostile and re-delivered messages are sent among valid ones
    sequence: list[Message] = []
    per_valid = len(hostile) / len(valid)
    middle = len(valid) // 2
    for i, message in enumerate(valid):
        sequence.append(message)
        for topic, key, value in hostile[round(i * per_valid) : round((i + 1) * per_valid)]:
            sequence.append(Message(topic, key, value, message.at))
        if i % 25 == 0 and message.topic != "watchlist":
            sequence.append(message)  # delivered again
        if i == middle:
            sequence += redelivered_burst(message.at)
    expected_alerts, expected_letters = oracle(sequence)
    rejected = {sequence[n].value for n in expected_letters}
    assert all(value in rejected for _, _, value in handmade)
    # a few mutations are valid by chance (an event id replaced by another valid one):
    # those are processed like any event, and replay counts them too
    assert len(expected_letters) >= GENERATED

    prefix = new_prefix()
    worker = start_worker(prefix, tmp_path / "data", tmp_path / "worker.log")
    memory = RssSampler(worker.process.pid)
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, max_request_size=3 * HUGE)
    await producer.start()
    stamp = DistinctTimestamps()  # the merge then reads them in the order sent
    try:
        await make_room_for_huge_messages(prefix)
        coordinates: dict[tuple[str, int, int], int] = {}
        for number, message in enumerate(sequence):
            delivery = await producer.send(
                f"{prefix}{message.topic}",
                message.value,
                key=message.key,
                timestamp_ms=stamp.next(),
            )
            if number in expected_letters:
                metadata = await delivery
                coordinates[(message.topic, metadata.partition, metadata.offset)] = number
        await producer.flush()
        found = await drain(prefix, worker.log_tail())
        raws = await Kafka().read_until(
            f"{prefix}dead-letters", lambda vs: len(vs) >= len(expected_letters), within=120
        )
        assert worker.process.poll() is None, worker.log_tail()
    finally:
        memory.stop()
        await producer.stop()
        stop_worker(worker)
        await delete_topics(prefix)
    letters = [DeadLetter.model_validate_json(raw) for raw in raws]  # may exceed 64 KiB
    by_place = {(d.topic.removeprefix(prefix), d.partition, d.offset): d for d in letters}
    assert len(by_place) == len(letters) == len(expected_letters)
    assert {place: by_place[place].reason for place in coordinates} == {
        place: expected_letters[number] for place, number in coordinates.items()
    }
    assert_same_alerts(found, expected_alerts, repeats_allowed=True)
    seller = identity("redelivered-seller")
    assert not [a for a in found if a.subject.id == seller], "re-deliveries were counted"
    assert "Traceback" not in worker.log.read_text(errors="replace"), "the worker hit an error"
    print(f"{len(sequence)} messages; worker RSS at most {memory.peak:.0f} MiB")
    assert memory.peak < MAX_RSS_MIB


def oracle(sequence: list[Message]) -> tuple[list[Alert], dict[int, str]]:
    """What replay makes of the sequence: the alerts, and per rejected message its reason.
    The case linker rejects a disposition as it is read (a second, different decision), or
    later (its alert did not come by the grace past it): at the message that first brought
    it. One still held when the sequence ends is not rejected: the worker cannot know it
    has ended."""
    replayer = Replayer(Engine(Policy()))
    alerts: list[Alert] = []
    letters: dict[int, str] = {}
    first: dict[str, int] = {}
    for number, message in enumerate(sequence):
        try:
            event = admit(message.topic, message.key, message.value, NOW, timedelta(minutes=5))
        except DecodeError as exc:
            letters[number] = exc.reason
            continue
        if isinstance(event, Disposition):
            first.setdefault(event.model_dump_json(), number)
        alerts += replayer.apply(event)
    for letter in replayer.take_letters():
        assert letter.raw is not None
        disposition = Disposition.model_validate_json(letter.raw).model_dump_json()
        letters[first[disposition]] = letter.reason
    return alerts, letters
