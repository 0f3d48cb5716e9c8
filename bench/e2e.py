"""End to end: simulated events preloaded in the input topics of the real broker, then
workers from their start until the last of them is processed; and, over the same messages,
the ceilings: a plain aiokafka consumer that only reads and decodes them, a no-op Faust
agent (`faust_noop`: the framework's own cost), and duanka's core in a plain consumer loop
(admit and every rule, as replay runs them, without Faust). Afterwards, what the workers
hold: resident memory and RocksDB bytes.

The time includes starting the workers (joining the group, restoring nothing), a few
seconds, as an operator starting them on a backlog would see it; a second worker starts once
the first is ready, and its joining moves half the partitions."""

import asyncio
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from bench import broker
from bench.core import ReadMessage, simulated
from duanka.detector.core.engine import Engine
from duanka.detector.core.intake import INPUT_TOPICS, InputTopic, admit, decode_admitted
from duanka.detector.core.policy import Policy
from duanka.detector.core.routing import SUBJECT_KINDS, route
from duanka.replay.replayer import Replayer
from duanka.settings import Settings
from duanka.topics import ensure_topics

NOOP_WITHIN_S = 3600.0


@dataclass(frozen=True)
class Drain:
    """Workers started on a preloaded backlog, until their group committed it all; what
    each then held in memory, and their data directories' size."""

    workers: int
    seconds: float
    rss_mib: list[float]
    store_bytes: int


@dataclass(frozen=True)
class Ceilings:
    """Seconds other readers take over the same preloaded messages."""

    faust_noop_seconds: float
    """A no-op Faust agent, from its start until it has read every message."""
    core_consumer_seconds: float
    """One aiokafka consumer applying duanka's core to every message it reads."""


@dataclass(frozen=True)
class E2eResult:
    """Workers against the ceilings over the same preloaded messages."""

    events: int
    partitions: int
    drain: Drain
    ceiling_seconds: float
    """A plain aiokafka consumer reading and JSON-decoding every message."""
    ceilings: Ceilings | None = None
    """The Faust and core ceilings (None: not measured, as for scale-out)."""

    @property
    def events_per_s(self) -> float:
        return self.events / self.drain.seconds

    @property
    def ceiling_events_per_s(self) -> float:
        return self.events / self.ceiling_seconds

    @property
    def ratio(self) -> float:
        return self.events_per_s / self.ceiling_events_per_s

    @property
    def faust_noop_events_per_s(self) -> float | None:
        return None if self.ceilings is None else self.events / self.ceilings.faust_noop_seconds

    @property
    def faust_noop_ratio(self) -> float | None:
        """The worker's events per second against the no-op Faust agent's."""
        noop = self.faust_noop_events_per_s
        return None if noop is None else self.events_per_s / noop

    @property
    def core_consumer_events_per_s(self) -> float | None:
        if self.ceilings is None:
            return None
        return self.events / self.ceilings.core_consumer_seconds

    def as_json(self) -> dict[str, object]:
        noop, core = self.faust_noop_events_per_s, self.core_consumer_events_per_s
        noop_ratio = self.faust_noop_ratio
        return {
            "setup": f"{self.events} simulated events preloaded on {self.partitions} "
            f"partitions per input topic; {self.drain.workers} worker(s), from start until "
            "the group has committed every input and subject-topic message; ceilings over "
            "the same messages: one aiokafka consumer reading and JSON-decoding them, a "
            "no-op Faust agent from its start until it has read them all, and the core "
            "(admit and every rule) in one aiokafka consumer's loop",
            "events": self.events,
            "partitions": self.partitions,
            "workers": self.drain.workers,
            "events_per_s": round(self.events_per_s),
            "ceiling_events_per_s": round(self.ceiling_events_per_s),
            "ratio": round(self.ratio, 4),
            "faust_noop_events_per_s": None if noop is None else round(noop),
            "faust_noop_ratio": None if noop_ratio is None else round(noop_ratio, 3),
            "core_consumer_events_per_s": None if core is None else round(core),
            "worker_seconds": round(self.drain.seconds, 1),
            "rss_mib": round(max(self.drain.rss_mib), 1),
        }


async def preload(prefix: str, messages: Sequence[ReadMessage]) -> None:
    """Write the messages to the prefixed input topics; fails if any is not delivered."""
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.BOOTSTRAP, linger_ms=50, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        deliveries = [
            await producer.send(f"{prefix}{topic}", value, key=key)
            for topic, key, value in messages
        ]
        await producer.flush()
        for delivery in deliveries:
            delivery.result()
    finally:
        await producer.stop()


async def read_and_decode(prefix: str, partition_count: int, count: int) -> float:
    """Seconds a plain consumer takes to read `count` messages of the input topics from the
    beginning and decode each one's JSON."""

    def decode(tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:
            if record.value is not None:  # a tombstone has nothing to decode
                orjson.loads(record.value)

    return await _timed_read(prefix, partition_count, count, decode)


async def core_in_consumer(prefix: str, partition_count: int, count: int) -> float:
    """Seconds one aiokafka consumer takes to read `count` messages of the input topics from
    the beginning and apply duanka's core to each (admit, route, every rule), as replay
    does, a fetched batch at a time."""
    replayer = Replayer(Engine(Policy()))
    skew = timedelta(minutes=5)

    def detect(tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        topic = cast(InputTopic, tp.topic.removeprefix(prefix))
        now = datetime.now(UTC)
        for record in records:
            replayer.apply(admit(topic, record.key, record.value, now, skew), tp.partition)

    return await _timed_read(prefix, partition_count, count, detect)


async def _timed_read(
    prefix: str,
    partition_count: int,
    count: int,
    handle: Callable[[TopicPartition, list[ConsumerRecord[bytes, bytes]]], None],
) -> float:
    """Seconds one aiokafka consumer takes to read `count` messages of the input topics from
    the beginning, handing each partition's fetched records to `handle`."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.BOOTSTRAP,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(f"{prefix}{topic}", p)
            for topic in INPUT_TOPICS
            for p in range(partition_count)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        began = time.perf_counter()
        read = 0
        while read < count:
            batches = await consumer.getmany(timeout_ms=1000)
            for tp, records in batches.items():
                handle(tp, records)
                read += len(records)
        return time.perf_counter() - began
    finally:
        await consumer.stop()


def faust_noop(prefix: str, count: int) -> float:
    """Seconds a no-op Faust agent takes from its start until it has read `count` messages
    of the input topics (`faust_noop`)."""
    module = ["bench.faust_noop", prefix, str(count)]
    return broker.until_marked("no-op Faust agent", module, NOOP_WITHIN_S)[0]


def drain(prefix: str, workers: int) -> Drain:
    """Start `workers` workers, each once the one before is ready, and time them until the
    backlog is committed."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        began = time.perf_counter()
        running = [
            broker.start_worker(prefix, root / f"data-{n}", root / f"log-{n}")
            for n in range(workers)
        ]
        try:
            asyncio.run(broker.until_drained(prefix))
            seconds = time.perf_counter() - began
            memory = [broker.rss_mib(worker.process.pid) for worker in running]
            stored = sum(
                f.stat().st_size
                for n in range(workers)
                for f in (root / f"data-{n}").rglob("*")
                if f.is_file()
            )
        finally:
            for worker in running:
                broker.stop_worker(worker)
    return Drain(workers, seconds, memory, stored)


def distinct_subjects(messages: Sequence[ReadMessage]) -> dict[str, int]:
    """How many subjects of each kind the messages concern."""
    seen: dict[str, set[str]] = {kind: set() for kind in SUBJECT_KINDS}
    for topic, key, value in messages:
        for address in route(decode_admitted(topic, key, value)):
            seen[address.kind].add(address.id)
    return {kind: len(ids) for kind, ids in seen.items()}


@contextmanager
def preloaded(messages: Sequence[ReadMessage]) -> Iterator[Settings]:
    """Topics of a fresh prefix, the messages in its input topics; the settings of a worker
    reading them. The topics are deleted afterwards."""
    prefix = broker.new_prefix()
    settings = Settings(broker=f"kafka://{broker.BOOTSTRAP}", topic_prefix=prefix)
    asyncio.run(ensure_topics(settings))
    try:
        asyncio.run(preload(prefix, messages))
        yield settings
    finally:
        asyncio.run(broker.delete_topics(prefix))


def run(events: int, workers: int = 1, ceilings: bool = True) -> E2eResult:
    """Preload `events` simulated events, measure the ceilings (the Faust and core ones
    only if `ceilings`), then `workers` workers."""
    messages = simulated(events)
    count = len(messages)
    with preloaded(messages) as settings:
        prefix, partitions = settings.topic_prefix, settings.partitions
        ceiling = asyncio.run(read_and_decode(prefix, partitions, count))
        measured = None
        if ceilings:
            measured = Ceilings(
                faust_noop(prefix, count),
                asyncio.run(core_in_consumer(prefix, partitions, count)),
            )
        drained_by = drain(prefix, workers)
    return E2eResult(count, partitions, drained_by, ceiling, measured)
