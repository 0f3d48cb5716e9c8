"""The native core against the Python reference it stands in for.

`duanka._native.event_values` may answer None for anything (the reference then decides);
when it answers, the event must be exactly the one the reference validates from the same
bytes. It must answer for what producers write (the simulator's default mix), and never
raise, whatever the bytes.
"""

import itertools
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duanka._native import event_values
from duanka.detector.core import trusted
from duanka.detector.core.intake import EVENT_MODELS, decode_admitted, validate_document
from duanka.schemas.codec import DecodeError, parse_json
from duanka.schemas.events import Message
from duanka.simulator.scenario import Scenario, ScenarioConfig

START = datetime(2026, 11, 1, tzinfo=UTC)
TOPICS = tuple(EVENT_MODELS)


def reference(topic: str, value: bytes) -> Message | None:
    """The event the Python reference admits from `value`, or None if it rejects it."""
    try:
        return validate_document(topic, None, parse_json(value))  # type: ignore[arg-type,return-value]
    except DecodeError:
        return None


def assert_same(fast: Message, slow: Message) -> None:
    assert fast == slow
    assert fast.model_dump_json() == slow.model_dump_json()
    for name in type(slow).model_fields:
        value = getattr(slow, name)
        if isinstance(value, datetime):
            assert getattr(fast, name).utcoffset() == value.utcoffset()


def check(topic: str, value: bytes) -> bool:
    """Hold the fast path to the reference on one message; whether it answered."""
    values = event_values(topic, value)
    if values is None:
        return False
    slow = reference(topic, value)
    assert slow is not None, f"the fast path admitted what the reference rejects: {value!r}"
    assert_same(trusted.build(topic, values), slow)
    return True


def simulated(events: int) -> list[tuple[str, bytes]]:
    scenario = Scenario(ScenarioConfig(7, START, seconds_per_event=18.0))
    messages = [*itertools.islice(scenario.messages(), events), *scenario.pending()]
    return [
        (message.topic, orjson.dumps(message.value))
        for message in messages
        if message.topic in TOPICS and message.value is not None
    ]


def test_the_default_mix_takes_the_fast_path() -> None:
    messages = simulated(20_000)
    assert {topic for topic, _ in messages} == set(TOPICS)
    assert all(check(topic, value) for topic, value in messages)


def test_decode_admitted_gives_the_reference_event() -> None:
    for topic, value in simulated(2_000):
        assert_same(decode_admitted(topic, None, value), reference(topic, value))  # type: ignore[arg-type]


def test_topics_without_a_fast_path_are_left_to_the_reference() -> None:
    entry = {"identity": "a" * 64, "reason": "r", "listed_at": "2026-11-01T00:00:00Z"}
    assert event_values("watchlist", orjson.dumps(entry)) is None
    assert event_values("no-such-topic", b"{}") is None


# Values each field might take: valid ones, near misses and other JSON types.
TEXTS = st.sampled_from(
    [
        "a",
        "icbc",
        "ICBC",
        "ccb:c000019",
        "acct-1",
        "a b",
        "",
        "x" * 64,
        "x" * 65,
        "+8613800138000",
        "+123456",
        "+0123456789",
        "8613800138000",
        "f" * 64,
        "F" * 64,
        "f" * 63,
        "CNY",
        "cny",
        "USDX",
        "mno",
        "mvno",
        "iot",
        "store",
        "online",
        "agent",
        "personal",
        "corporate",
        "payment",
        "counter",
        "mobile",
        "atm",
        "third_party",
        "é",
        "a\n",
    ]
)
TIMESTAMPS = st.builds(
    lambda date, sep, time, fraction, zone: f"{date}{sep}{time}{fraction}{zone}",
    st.sampled_from(["2026-11-28", "2024-02-29", "2025-02-29", "0001-01-01", "2026-13-01"]),
    st.sampled_from(["T", "t", " "]),
    st.sampled_from(["09:15:00", "23:59:59", "24:00:00", "23:59:60", "00:00:00"]),
    st.sampled_from(["", ".1", ".123", ".123456", ".1234567", "."]),
    st.sampled_from(["Z", "z", "+08:00", "-05:30", "+00:00", "-00:00", "+23:59", "+24:00", ""]),
)
VALUES = st.one_of(
    TEXTS,
    TIMESTAMPS,
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=2 * 10**13),
    st.sampled_from([1.0, 2**64 - 1, 500.5, 1e3]),
    st.lists(st.integers(-5, 5), max_size=2),
)


def _fullest() -> dict[str, dict[str, Any]]:
    """Per topic, a simulated event with as many fields given as any."""
    fullest: dict[str, dict[str, Any]] = {}
    for topic, value in simulated(2_000):
        document = orjson.loads(value)
        given_ = sum(v is not None for v in document.values())
        if given_ > sum(v is not None for v in fullest.get(topic, {}).values()):
            fullest[topic] = document
    return fullest


VALID = _fullest()


@st.composite
def near_valid(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid event with a few fields changed, dropped or added."""
    topic = draw(st.sampled_from(TOPICS))
    document = dict(VALID[topic])
    names = [*trusted.FIELDS[topic], "extra"]
    for name in draw(st.lists(st.sampled_from(names), max_size=3)):
        if draw(st.booleans()):
            document.pop(name, None)
        else:
            document[name] = draw(VALUES)
    return topic, orjson.dumps(document)


@settings(max_examples=3000, deadline=None)
@given(near_valid())
def test_near_valid_events_agree(message: tuple[str, bytes]) -> None:
    check(*message)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(TOPICS), st.binary(max_size=300))
def test_any_bytes_are_answered(topic: str, value: bytes) -> None:
    check(topic, value)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"event_id":"a","event_id":"b"}',
        b"[]",
        b"null",
        b'"text"',
        b"\xff\xfe",
        b"{" * 10_000,
        b" " * (64 * 1024 + 1),
    ],
)
@pytest.mark.parametrize("topic", TOPICS)
def test_odd_documents_are_left_to_the_reference(topic: str, raw: bytes) -> None:
    assert event_values(topic, raw) is None


def test_a_duplicated_field_is_left_to_the_reference() -> None:
    document = orjson.dumps(VALID["transfers"])
    doubled = document[:-1] + b',"channel":"atm"}'
    assert event_values("transfers", doubled) is None


def test_an_amount_past_64_bits_is_left_to_the_reference() -> None:
    document = orjson.dumps({**VALID["transfers"], "amount_minor": 7})
    huge = document.replace(b'"amount_minor":7', b'"amount_minor":100000000000000000000000')
    assert event_values("transfers", document) is not None
    assert event_values("transfers", huge) is None
