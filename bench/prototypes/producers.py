"""Producing as the worker does, with aiokafka (through which Faust produces) and with
confluent-kafka (librdkafka): keyed records of a changelog record's size to one topic of 8
partitions, acknowledged by all replicas, with the worker's linger and batch size; every
delivery confirmed. What the worker's main thread spends per record is what bounds it, so
each is measured in the producing thread's CPU time as well as wall time.

Run as `python -m bench.prototypes.producers [RECORDS] [BYTES]` against the local broker.
"""

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from confluent_kafka import KafkaError, Message, Producer

from bench import broker
from duanka.detector.app import PRODUCER_BATCH_BYTES, PRODUCER_LINGER_S
from duanka.settings import Settings
from duanka.topics import WEEK, TopicSpec, ensure_topic

PARTITIONS = 8
POLL_EVERY = 1000
"""confluent-kafka: records produced between two polls (which run delivery callbacks)."""


@dataclass(frozen=True)
class Produced:
    """How long one producer took over the same records."""

    client: str
    records: int
    wall_s: float
    thread_cpu_s: float
    """CPU time of the thread that produced: the worker's event loop, in the worker."""
    process_cpu_s: float
    """CPU time of every thread: librdkafka's own threads too."""

    def line(self) -> str:
        per = 1e6 / self.records
        return (
            f"{self.client:<16} {self.records / self.wall_s:>9,.0f} records/s  "
            f"producing thread {self.thread_cpu_s * per:5.1f} µs/record  "
            f"all threads {self.process_cpu_s * per:5.1f} µs/record"
        )


def records(count: int, size: int) -> list[tuple[bytes, bytes]]:
    """`count` keyed values of `size` bytes, keys spread as subjects are."""
    body = os.urandom(size // 2).hex().encode()[:size]
    return [(f"subject-{n % 50_000}".encode(), body) for n in range(count)]


async def with_aiokafka(topic: str, batch: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.BOOTSTRAP,
        acks="all",
        linger_ms=int(PRODUCER_LINGER_S * 1000),
        max_batch_size=PRODUCER_BATCH_BYTES,
    )
    await producer.start()
    try:
        deliveries = [await producer.send(topic, value, key=key) for key, value in batch]
        await producer.flush()
        for delivery in deliveries:
            delivery.result()
    finally:
        await producer.stop()


async def with_confluent(topic: str, batch: list[tuple[bytes, bytes]]) -> None:
    producer = Producer(
        {
            "bootstrap.servers": broker.BOOTSTRAP,
            "acks": "all",
            "linger.ms": int(PRODUCER_LINGER_S * 1000),
            "batch.size": PRODUCER_BATCH_BYTES,
            "enable.idempotence": False,
        }
    )
    failed: list[KafkaError] = []
    delivered = 0

    def confirm(err: KafkaError | None, message: Message) -> None:
        nonlocal delivered
        if err is not None:
            failed.append(err)
        delivered += 1

    for n, (key, value) in enumerate(batch, 1):
        producer.produce(topic, value, key, on_delivery=confirm)
        if n % POLL_EVERY == 0:
            producer.poll(0)
            await asyncio.sleep(0)  # the event loop goes on, as in a worker
    if producer.flush(60):  # blocks while librdkafka delivers: waiting, not CPU
        raise RuntimeError("records still undelivered after 60 s")
    if failed or delivered != len(batch):
        raise RuntimeError(f"{delivered} of {len(batch)} delivered; errors: {failed[:3]}")


async def timed(
    client: str,
    produce: Callable[[str, list[tuple[bytes, bytes]]], Awaitable[None]],
    topic: str,
    batch: list[tuple[bytes, bytes]],
) -> Produced:
    wall, thread, process = time.perf_counter(), time.thread_time(), time.process_time()
    await produce(topic, batch)
    return Produced(
        client,
        len(batch),
        time.perf_counter() - wall,
        time.thread_time() - thread,
        time.process_time() - process,
    )


async def compare(count: int, size: int, rounds: int = 2) -> list[Produced]:
    """Each client `rounds` times, alternating, into a fresh topic each time."""
    prefix = broker.new_prefix()
    settings = Settings(broker=f"kafka://{broker.BOOTSTRAP}", topic_prefix=prefix)
    batch = records(count, size)
    results = []
    try:
        for round in range(rounds):
            for client, produce in (
                ("aiokafka", with_aiokafka),
                ("confluent-kafka", with_confluent),
            ):
                topic = settings.topic(f"{client}-{round}")
                await ensure_topic(settings, TopicSpec(topic, WEEK, partitions=PARTITIONS))
                results.append(await timed(client, produce, topic, batch))
    finally:
        await broker.delete_topics(prefix)
    return results


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 200_000
    size = int(argv[1]) if len(argv) > 1 else 400
    print(f"{count:,} records of {size} bytes, {PARTITIONS} partitions, acks=all")
    for result in asyncio.run(compare(count, size)):
        print(result.line())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
