"""End to end: simulated events preloaded in the input topics of the real broker, then
workers from their start until the last of them is processed; and, over the same messages,
the ceiling: a plain aiokafka consumer that only reads and decodes them. Afterwards, what
the workers hold: resident memory and RocksDB bytes.

The time includes starting the workers (joining the group, restoring nothing), a few
seconds, as an operator starting them on a backlog would see it; a second worker starts once
the first is ready, and its joining moves half the partitions."""

import asyncio
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench import broker
from bench.core import ReadMessage, simulated
from services.detector.core.intake import INPUT_TOPICS, decode_admitted
from services.detector.core.routing import SUBJECT_KINDS, route
from services.settings import Settings
from services.topics import ensure_topics


@dataclass(frozen=True)
class Drain:
    """Workers started on a preloaded backlog, until their group committed it all; what
    each then held in memory, and their data directories' size."""

    workers: int
    seconds: float
    rss_mib: list[float]
    store_bytes: int


@dataclass(frozen=True)
class E2eResult:
    """Workers against the aiokafka ceiling over the same preloaded messages."""

    events: int
    partitions: int
    drain: Drain
    ceiling_seconds: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.drain.seconds

    @property
    def ceiling_events_per_s(self) -> float:
        return self.events / self.ceiling_seconds

    @property
    def ratio(self) -> float:
        return self.events_per_s / self.ceiling_events_per_s

    def as_json(self) -> dict[str, object]:
        return {
            "setup": f"{self.events} simulated events preloaded on {self.partitions} "
            f"partitions per input topic; {self.drain.workers} worker(s), from start until "
            "the group has committed every input and subject-topic message; ceiling: one "
            "aiokafka consumer reading and JSON-decoding the same messages",
            "events": self.events,
            "partitions": self.partitions,
            "workers": self.drain.workers,
            "events_per_s": round(self.events_per_s),
            "ceiling_events_per_s": round(self.ceiling_events_per_s),
            "ratio": round(self.ratio, 4),
            "worker_seconds": round(self.drain.seconds, 1),
            "rss_mib": [round(rss, 1) for rss in self.drain.rss_mib],
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
            for records in batches.values():
                for record in records:
                    if record.value is not None:  # a tombstone has nothing to decode
                        orjson.loads(record.value)
                read += len(records)
        return time.perf_counter() - began
    finally:
        await consumer.stop()


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


def run(events: int, workers: int = 1) -> E2eResult:
    """Preload `events` simulated events, measure the ceiling, then `workers` workers."""
    messages = simulated(events)
    with preloaded(messages) as settings:
        prefix = settings.topic_prefix
        ceiling = asyncio.run(read_and_decode(prefix, settings.partitions, len(messages)))
        drained_by = drain(prefix, workers)
    return E2eResult(len(messages), settings.partitions, drained_by, ceiling)
