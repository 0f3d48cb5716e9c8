"""A simulated history through the real broker, written in order by an independent
producer (librdkafka's partitioner: CRC32 of the key, not Kafka's murmur2), read by one
worker and by two, as a backlog loaded before they start and paced while they run: they
publish exactly the alerts in-order replay raises, by id and content; and none for a person
whose listing was lifted before they came back. One worker publishes each alert once; two
may publish one again, with the same id and content, when the second one's start moves
partitions the first had not committed yet (at-least-once: docs/guarantees.md)."""

import asyncio
import itertools
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    all_alerts,
    assert_no_lifted_listing_alerted,
    assert_same_alerts,
    delete_topics,
    drained,
    lifted_identities,
    new_prefix,
    require_broker,
    start_worker,
    stop_worker,
)

pytestmark = pytest.mark.integration

EVENTS = 8_000
PACED_RATE = 1_000.0
"""Messages per second of the paced runs."""
DRAIN_WITHIN_S = 300


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


def crc32_partitioner(key: bytes, partitions: list[int], available: list[int]) -> int:
    """librdkafka's `consistent` partitioner, as kcat and most non-Java clients use it."""
    return partitions[zlib.crc32(key) % len(partitions)]


async def load(prefix: str, messages: list[SimulatedMessage], rate: float | None = None) -> None:
    """Write the messages in order, at `rate` per second (None: as fast as they go)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, linger_ms=5, partitioner=crc32_partitioner
    )
    await producer.start()
    began = time.monotonic()
    try:
        for number, message in enumerate(messages):
            if rate is not None and (wait := began + number / rate - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            await producer.send(
                f"{prefix}{message.topic}", message.encoded_value(), key=message.key.encode()
            )
        await producer.flush()
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
def history() -> list[SimulatedMessage]:
    return backlog()


@pytest.mark.parametrize("paced", [False, True], ids=["backlog", "paced"])
@pytest.mark.parametrize("workers", [1, 2], ids=["one-worker", "two-workers"])
async def test_the_workers_publish_exactly_replays_alerts(
    history: list[SimulatedMessage], tmp_path: Path, paced: bool, workers: int
) -> None:
    require_broker()
    expected = replayed(history)
    assert len({a.rule for a in expected}) >= 8  # the world exercises nearly every rule
    prefix = new_prefix()
    await ensure_topics(Settings(broker=f"kafka://{BOOTSTRAP}", topic_prefix=prefix))
    if not paced:
        await load(prefix, history)
    running = []
    try:
        for n in range(workers):
            log = tmp_path / f"worker-{n}.log"
            running.append(await asyncio.to_thread(start_worker, prefix, tmp_path / f"{n}", log))
        if paced:
            await load(prefix, history, PACED_RATE)
        deadline = time.monotonic() + DRAIN_WITHIN_S
        while not await drained(prefix, f"{prefix}duanka"):
            assert time.monotonic() < deadline, running[0].log_tail()
            await asyncio.sleep(2)
        found = await all_alerts(f"{prefix}alerts")
    finally:
        for worker in running:
            stop_worker(worker)
        await delete_topics(prefix)
    assert_same_alerts(found, expected, repeats_allowed=workers > 1)
    lines = b"\n".join(orjson.dumps(m.as_replay_line()) for m in history)
    assert_no_lifted_listing_alerted(found, lifted_identities(lines))
