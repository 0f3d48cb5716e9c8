"""Watchlist records in an identity's order: a tombstone lifts the listing for every event
written after it, in replay and in the worker's order of a subject partition, whatever
pace its input partitions are read at.

The worker's subject partition is played here in memory: messages of an in-order input
(each written one millisecond after the one before it) are read from their partitions in a
random interleaving, each partition in its own order, held in `EventOrder` and applied by
the engine as it releases them; a drained partition is read now and then to a marker
written after everything. Its alerts must be replay's, by alert id."""

import random
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from duanka.detector.core.engine import Engine
from duanka.detector.core.intake import Admitted, InputTopic, decode_admitted
from duanka.detector.core.ordering import EventOrder, OriginProgress
from duanka.detector.core.policy import Policy
from duanka.detector.core.routing import Address, Stream
from duanka.detector.core.state import IdentityState
from duanka.detector.core.watermark import event_time, origin_of
from duanka.detector.partitions import WATCHLIST_LEAD_MS
from duanka.replay.replayer import Replayer
from duanka.simulator.population import person

START = datetime(2026, 2, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 1, tzinfo=UTC)
WRITTEN = 1_000_000
"""When the first message was written (epoch ms); each next one a millisecond later."""
SLACK = 100
EVENT_ORIGINS = (*(f"sim-activations/{p}" for p in range(2)), "account-opens/0")
RECORD_ORIGINS = tuple(f"watchlist/{p}" for p in range(2))
STREAMS: dict[InputTopic, Stream] = {
    "watchlist": "listing",
    "sim-activations": "sim",
    "account-opens": "open",
}
Step = tuple[int, str]
"""(identity number, what it does: "list", "list_until", "lift", "sim" or "open")."""


@dataclass(frozen=True)
class Message:
    written: int
    topic: InputTopic
    key: str
    value: dict[str, Any] | None

    @property
    def origin(self) -> str:
        if self.topic == "account-opens":
            return EVENT_ORIGINS[-1]
        partition = zlib.crc32(self.key.encode()) % 2
        return origin_of(self.topic, partition)

    def line(self) -> bytes:
        return orjson.dumps({"topic": self.topic, "key": self.key, "value": self.value})

    def admitted(self) -> Admitted:
        value = None if self.value is None else orjson.dumps(self.value)
        return decode_admitted(self.topic, self.key.encode(), value)

    def address(self) -> Address:
        return Address("identity", self.key, STREAMS[self.topic])


def story(steps: list[Step], spacing: int = 1) -> list[Message]:
    """The steps as input messages, an hour apart in event time and `spacing` ms apart in
    write time, in the order given."""
    messages = []
    for number, (who, what) in enumerate(steps):
        identity = person(10**9 + who).identity
        at = START + timedelta(hours=number)
        written = WRITTEN + number * spacing
        if what in ("list", "list_until"):
            value: dict[str, Any] | None = {
                "identity": identity,
                "reason": "appeal pending",
                "listed_at": (at - timedelta(days=3 + who)).isoformat(),
                "source": "nbpsb",
            }
            if what == "list_until":
                value["expires_at"] = (at + timedelta(hours=5)).isoformat()  # type: ignore[index]
            messages.append(Message(written, "watchlist", identity, value))
        elif what == "lift":
            messages.append(Message(written, "watchlist", identity, None))
        else:
            value = {
                "event_id": f"e{number}",
                "occurred_at": at.isoformat(),
                "source": "cmcc" if what == "sim" else "icbc",
                "identity": identity,
            }
            if what == "sim":
                value |= {"msisdn": f"+86138{number:08d}", "sim_kind": "mno", "channel": "store"}
                messages.append(Message(written, "sim-activations", identity, value))
            else:
                value |= {"account": f"icbc:a{number}", "account_kind": "personal"}
                value["channel"] = "counter"
                messages.append(Message(written, "account-opens", identity, value))
    return messages


Raised = Counter[tuple[str, str]]
"""How often each (rule, alert id) was raised."""


def replayed(messages: list[Message]) -> Raised:
    """The identity alerts in-order replay raises."""
    replayer = Replayer(Engine(Policy()))
    found: Raised = Counter()
    for number, message in enumerate(messages, start=1):
        alerts, letter = replayer.replay_line(message.line(), number)
        assert letter is None, letter
        found.update((a.rule, a.alert_id) for a in alerts if a.subject.kind == "identity")
    return found


def streamed(messages: list[Message], rng: random.Random, lead: int = 0) -> Raised:
    """The identity alerts of one identity-topic partition fed by the input partitions
    read in a random interleaving, each in its own order; readers report a drained
    partition read to a marker written after everything now and then."""
    engine = Engine(Policy())
    order: EventOrder[Message] = EventOrder(
        EVENT_ORIGINS, SLACK, record_origins=RECORD_ORIGINS, lead=lead
    )
    queues = {o: [m for m in messages if m.origin == o] for o in (*EVENT_ORIGINS, *RECORD_ORIGINS)}
    states: dict[str, IdentityState] = {}
    found: Raised = Counter()

    def apply(released: list[Message]) -> None:
        for message in released:
            outcome = engine.apply(
                message.address(),
                states.get(message.key),
                message.admitted(),
                NOW,
                origin=message.origin,
            )
            assert outcome.state is None or isinstance(outcome.state, IdentityState)
            if outcome.state is None:
                states.pop(message.key, None)
            else:
                states[message.key] = outcome.state
            if not outcome.duplicate:
                found.update((a.rule, a.alert_id) for a in outcome.alerts)

    marker = max(m.written for m in messages) + max(SLACK, lead) + 1
    offsets = dict.fromkeys(queues, 0)
    while any(queues.values()):
        origin = rng.choice(sorted(o for o, q in queues.items() if q))
        for message in queues[origin][: rng.randint(1, 3)]:
            queues[origin].remove(message)
            offsets[origin] += 1
            at = event_time(message.admitted())
            if at is None:
                order.add_record(message, origin, offsets[origin], message.written)
            else:
                order.add(message, origin, offsets[origin], at, message.written)
        idle = [o for o, q in queues.items() if not q and rng.random() < 0.3]
        order.report({o: OriginProgress(None, marker) for o in idle})
        apply(order.ready())
    every = (*EVENT_ORIGINS, *RECORD_ORIGINS)
    order.report({o: OriginProgress(None, marker) for o in every})
    apply(order.ready())
    assert len(order) == 0
    return found


steps = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(["list", "list_until", "lift", "sim", "open"])),
    min_size=1,
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps, shuffle=st.integers(0, 2**32 - 1))
def test_the_worker_order_raises_replays_alerts_for_any_story(
    steps: list[Step], shuffle: int
) -> None:
    messages = story(steps)
    assert streamed(messages, random.Random(shuffle)) == replayed(messages)


@settings(max_examples=200, deadline=None)
@given(steps=steps, shuffle=st.integers(0, 2**32 - 1))
def test_with_the_workers_lead_stories_written_a_second_apart_raise_replays_alerts(
    steps: list[Step], shuffle: int
) -> None:
    """The worker counts a watchlist record as written 500 ms before its timestamp: for
    input written more than that apart, the order is still replay's."""
    messages = story(steps, spacing=1_000)
    expected = replayed(messages)
    assert streamed(messages, random.Random(shuffle), lead=WATCHLIST_LEAD_MS) == expected


@settings(max_examples=100, deadline=None)
@given(
    returns=st.lists(st.sampled_from(["sim", "open"]), min_size=1, max_size=2),
    shuffle=st.integers(0, 2**32 - 1),
)
def test_a_listing_lifted_before_the_person_returns_alerts_nothing(
    returns: list[str], shuffle: int
) -> None:
    """Two people listed, one of them lifted at once; both come back later: only the one
    still listed is alerted, at every return."""
    lifted, listed = 0, 1
    messages = story(
        [
            (lifted, "list"),
            (listed, "list"),
            (lifted, "lift"),
            *((who, what) for what in returns for who in (lifted, listed)),
        ]
    )
    expected = replayed(messages)
    watchlisted = [n for (rule, _), n in expected.items() if rule == "watchlisted_identity"]
    assert sum(watchlisted) == len(returns)
    assert streamed(messages, random.Random(shuffle)) == expected
