"""A simulated backlog loaded into the real broker all at once, then consumed by a worker
that reads the three input topics and their partitions concurrently, days apart in event
time, under the default policy: it catches exactly the (rule, subject) pairs that in-order
replay of the same history catches, and publishes each alert once."""

import asyncio
import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from schemas.alerts import Alert
from services.detector.core.engine import Engine
from services.detector.core.policy import Policy
from services.replay.replayer import Replayer
from services.settings import Settings
from services.simulator.scenario import Scenario, ScenarioConfig, SimulatedMessage
from services.topics import ensure_topics
from tests.integration.conftest import (
    BOOTSTRAP,
    RunningWorker,
    all_alerts,
    drained,
    module_worker,
    new_prefix,
    require_broker,
)

pytestmark = pytest.mark.integration

EVENTS = 8_000
DRAIN_WITHIN_S = 300
Pair = tuple[str, str, str]


def backlog() -> list[SimulatedMessage]:
    """Nine days of a dense little world and the patterns it set going, ending before now."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=45)
    config = ScenarioConfig(
        seed=23,
        start=start,
        seconds_per_event=100.0,
        injection_rate=0.05,
        merchants=20,
        employers=10,
        personal_accounts=2_000,
    )
    scenario = Scenario(config)
    return [*itertools.islice(scenario.messages(), EVENTS), *scenario.pending()]


def replayed(messages: list[SimulatedMessage]) -> list[Alert]:
    replayer = Replayer(Engine(Policy()))
    alerts = []
    for number, message in enumerate(messages, start=1):
        found, letter = replayer.replay_line(orjson.dumps(message.as_replay_line()), number)
        assert letter is None, letter
        alerts += found
    return alerts


def pairs(alerts: list[Alert]) -> set[Pair]:
    return {(a.rule, a.subject.kind, a.subject.id) for a in alerts}


async def load(prefix: str, messages: list[SimulatedMessage]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, linger_ms=20)
    await producer.start()
    try:
        for message in messages:
            await producer.send(
                f"{prefix}{message.topic}", orjson.dumps(message.value), key=message.key.encode()
            )
        await producer.flush()
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
def history() -> list[SimulatedMessage]:
    return backlog()


@pytest.fixture(scope="module")
def backlog_worker(
    tmp_path_factory: pytest.TempPathFactory, history: list[SimulatedMessage]
) -> Iterator[RunningWorker]:
    """A worker started only after the whole backlog is in the broker."""
    require_broker()
    prefix = new_prefix()
    asyncio.run(ensure_topics(Settings(broker=f"kafka://{BOOTSTRAP}", topic_prefix=prefix)))
    asyncio.run(load(prefix, history))
    yield from module_worker(tmp_path_factory, "backlog-worker", prefix)


async def test_a_backlog_catches_what_in_order_replay_catches(
    history: list[SimulatedMessage], backlog_worker: RunningWorker
) -> None:
    expected = replayed(history)
    assert len({a.rule for a in expected}) >= 8  # the world exercises nearly every rule
    deadline = time.monotonic() + DRAIN_WITHIN_S
    group = f"{backlog_worker.prefix}duanka"
    while not await drained(backlog_worker.prefix, group):
        assert time.monotonic() < deadline, backlog_worker.log_tail()
        await asyncio.sleep(2)
    alerts = await all_alerts(backlog_worker.topic("alerts"))
    assert pairs(alerts) == pairs(expected)
    ids = [a.alert_id for a in alerts]
    assert len(ids) == len(set(ids)), "an alert was published twice"
