"""The backlog test's world: a simulated history written by independent producers, a
group of workers publishing for it, and what in-order replay makes of it. Shared by the
backlog test, the cases test and the soak."""

import asyncio
import functools
import itertools
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import orjson
from aiokafka import AIOKafkaProducer

from duanka.detector.core.engine import Engine
from duanka.detector.core.intake import INPUT_TOPICS
from duanka.detector.core.policy import Policy
from duanka.replay.replayer import Replayer
from duanka.schemas.alerts import Alert
from duanka.schemas.cases import Case
from duanka.settings import Settings
from duanka.simulator.scenario import Scenario, ScenarioConfig, SimulatedMessage
from duanka.topics import ensure_topics
from tests.integration.conftest import (
    BOOTSTRAP,
    RunningWorker,
    all_alerts,
    assert_no_lifted_listing_alerted,
    assert_same_alerts,
    assert_same_cases,
    delete_topics,
    drained,
    lifted_identities,
    new_prefix,
    published_cases,
    start_worker,
    stop_worker,
    until_linked,
)

EVENTS = 8_000
PACED_RATE = 1_000.0
"""Messages per second of the paced runs."""
SKEW_MS = 250
"""How far ahead of the other producers' clocks the watchlist producer's runs, where
producers are one per topic."""


@functools.cache
def backlog() -> list[SimulatedMessage]:
    """Four weeks of a dense little world and the patterns it set going, ending before now
    (the same for every test of a run)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=80)
    config = ScenarioConfig(
        seed=23,
        start=start,
        seconds_per_event=300.0,
        injection_rate=0.05,
        merchants=20,
        employers=10,
        personal_accounts=2_000,
    )
    scenario = Scenario(config)
    return [*itertools.islice(scenario.messages(), EVENTS), *scenario.pending()]


class Replayed(NamedTuple):
    """What in-order replay makes of a history."""

    alerts: list[Alert]
    cases: dict[str, Case]
    """The latest record of each case, by id."""


def replayed(messages: list[SimulatedMessage]) -> Replayed:
    """Replay's alerts and cases; every message is admitted, but dispositions the simulator
    repeats or mistypes."""
    replayer = Replayer(Engine(Policy()))
    alerts = []
    for number, message in enumerate(messages, start=1):
        found, letter = replayer.replay_line(orjson.dumps(message.as_replay_line()), number)
        assert letter is None or letter.topic == "dispositions", letter
        alerts += found
    return Replayed(alerts, {case.case_id: case for case in replayer.take_cases()})


def crc32_partitioner(key: bytes, partitions: list[int], available: list[int]) -> int:
    """librdkafka's `consistent` partitioner, as kcat and most non-Java clients use it."""
    return partitions[zlib.crc32(key) % len(partitions)]


async def paced(
    messages: list[SimulatedMessage], rate: float | None
) -> AsyncIterator[SimulatedMessage]:
    """The messages in order, at `rate` per second (None: as fast as they go)."""
    began = time.monotonic()
    for number, message in enumerate(messages):
        if rate is not None and (wait := began + number / rate - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        yield message


async def load(prefix: str, messages: list[SimulatedMessage], rate: float | None = None) -> None:
    """Write the messages in order with one producer."""
    await load_per_topic(prefix, messages, rate, per_topic=False)


async def load_skewed(
    prefix: str, messages: list[SimulatedMessage], rate: float | None = None
) -> None:
    """Write the messages in order with one producer per topic, the watchlist's with a
    clock `SKEW_MS` ahead of the others'."""
    await load_per_topic(prefix, messages, rate, per_topic=True)


async def load_per_topic(
    prefix: str, messages: list[SimulatedMessage], rate: float | None, per_topic: bool
) -> None:
    producers = {
        topic: AIOKafkaProducer(
            bootstrap_servers=BOOTSTRAP, linger_ms=5, partitioner=crc32_partitioner
        )
        for topic in (INPUT_TOPICS if per_topic else INPUT_TOPICS[:1])
    }
    for producer in producers.values():
        await producer.start()
    try:
        async for message in paced(messages, rate):
            producer = producers.get(message.topic) or producers[INPUT_TOPICS[0]]
            skew = SKEW_MS if per_topic and message.topic == "watchlist" else 0
            await producer.send(
                f"{prefix}{message.topic}",
                message.encoded_value(),
                key=message.key.encode(),
                timestamp_ms=time.time_ns() // 1_000_000 + skew,
            )
        for producer in producers.values():
            await producer.flush()
    finally:
        for producer in producers.values():
            await producer.stop()


async def load_with_kcat(
    prefix: str, messages: list[SimulatedMessage], rate: float | None = None
) -> None:
    """Write the messages in order with one kcat per topic, each fed its lines as the
    stream comes to them (`-Z`: an empty value is a tombstone)."""
    kcats = {
        topic: await asyncio.create_subprocess_exec(
            *("kcat", "-P", "-b", BOOTSTRAP, "-t", f"{prefix}{topic}", "-K", "\t", "-Z"),
            stdin=asyncio.subprocess.PIPE,
        )
        for topic in INPUT_TOPICS
    }
    async for message in paced(messages, rate):
        feed = kcats[message.topic].stdin
        assert feed is not None
        feed.write(b"%s\t%s\n" % (message.key.encode(), message.encoded_value() or b""))
        await feed.drain()
    for kcat in kcats.values():
        assert kcat.stdin is not None
        kcat.stdin.close()
        assert await asyncio.wait_for(kcat.wait(), 60) == 0


LOADERS = {"one-producer": load, "skewed-producers": load_skewed, "kcat-per-topic": load_with_kcat}


Loader = Callable[[str, list[SimulatedMessage], float | None], Awaitable[None]]
"""Writes messages to the input topics of a prefix, at a rate (None: as fast as they go)."""
DRAIN_WITHIN_S = 300


class Published(NamedTuple):
    """What a group of workers published for a history."""

    alerts: list[Alert]
    cases: dict[str, Case]
    """The latest record of each case, by id."""
    workers: int
    """How many workers were started, restarts included."""


class Group:
    """The workers of one run: started on a prefix, each with its own data directory."""

    def __init__(self, prefix: str, root: Path, env: Mapping[str, str]) -> None:
        self.prefix = prefix
        self.root = root
        self.env = env
        """Settings of every worker, as environment variables."""
        self.running: list[RunningWorker] = []

    async def start(self, n: int) -> RunningWorker:
        """Start worker `n` (again, on its own data directory), ready when this returns."""
        log = self.root / f"worker-{n}-{len(self.running)}.log"
        worker = await asyncio.to_thread(
            start_worker, self.prefix, self.root / f"{n}", log, **self.env
        )
        self.running.append(worker)
        return worker


async def publish(
    root: Path,
    history: list[SimulatedMessage],
    loader: Loader,
    paced: bool,
    workers: int,
    beside: Callable[[Group], Awaitable[None]] | None = None,
    env: Mapping[str, str] = MappingProxyType({}),
) -> Published:
    """Write `history` to fresh topics (before the workers start, or at `PACED_RATE`
    while they run), run `workers` workers until their group has drained it, and return
    what they published. `beside`, given the group, runs from the workers' start until
    the group has drained (to disrupt it), then is cancelled; `env` sets the workers'
    settings. The topics are deleted afterwards."""
    prefix = new_prefix()
    await ensure_topics(Settings(broker=f"kafka://{BOOTSTRAP}", topic_prefix=prefix))
    if not paced:
        await loader(prefix, history, None)
    group = Group(prefix, root, env)
    disrupting = None
    try:
        for n in range(workers):
            await group.start(n)
        if beside is not None:
            disrupting = asyncio.create_task(beside(group))
        if paced:
            await loader(prefix, history, PACED_RATE)
        deadline = time.monotonic() + DRAIN_WITHIN_S
        while not await drained(prefix, f"{prefix}duanka"):
            assert time.monotonic() < deadline, group.running[-1].log_tail()
            await asyncio.sleep(2)
        alerts = await all_alerts(f"{prefix}alerts")
        await until_linked(prefix, f"{prefix}duanka")
        cases = await published_cases(f"{prefix}cases")
    finally:
        if disrupting is not None:
            disrupting.cancel()
            with suppress(asyncio.CancelledError):
                await disrupting
        for worker in group.running:
            stop_worker(worker)
        await delete_topics(prefix)
    return Published(alerts, cases, len(group.running))


def assert_replays(found: Published, history: list[SimulatedMessage]) -> None:
    """The alerts and cases are replay's, each alert once unless several workers ran (an
    alert may then be sent again, same id and content), and no lifted listing alerted."""
    expected = replayed(history)
    assert_same_alerts(found.alerts, expected.alerts, repeats_allowed=found.workers > 1)
    assert_same_cases(found.cases, expected.cases)
    lines = b"\n".join(orjson.dumps(m.as_replay_line()) for m in history)
    assert_no_lifted_listing_alerted(found.alerts, lifted_identities(lines))
