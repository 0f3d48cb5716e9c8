"""Reading the input topics inside a Faust app: with a Faust agent, as the worker's ingest
reads today (`take_events`, a batch at a time), against a read loop of duanka's own run as
an app task, with aiokafka or with confluent-kafka. Each reader decodes every message's
JSON, as ingest must, and notes when it read the first message and the last: the rate
between them leaves out the app's start, which is the same for all three.

Run as `python -m bench.prototypes.read_loop [EVENTS]` against the local broker: it preloads
the simulated events once, then runs each reader in a process of its own, alternating.
Run as `python -m bench.prototypes.read_loop READER PREFIX COUNT MARKER DATA_DIR`, it is
one reader's process.
"""

import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from confluent_kafka import Consumer
from confluent_kafka import TopicPartition as ConfluentPartition

from bench import broker
from bench.core import simulated
from bench.e2e import preloaded
from bench.faust_noop import reading_app
from duanka.detector.core.intake import INPUT_TOPICS
from duanka.detector.ingest import FORWARD_BATCH, FORWARD_WITHIN_S

READERS = ("faust", "aiokafka", "confluent")
READ_WITHIN_S = 3600.0
PARTITIONS = 8
"""Per input topic, as `bench.e2e.preloaded` creates them (the default)."""


class Tally:
    """Messages read, when the first and the last were, and where to say so."""

    def __init__(self, count: int, marker: Path) -> None:
        self.count, self.marker = count, marker
        self.read = 0
        self.first: float | None = None

    def took(self, values: list[bytes | None]) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        for value in values:
            if value is not None:
                orjson.loads(value)
        before, self.read = self.read, self.read + len(values)
        if before < self.count <= self.read:
            self.marker.write_text(f"{time.perf_counter() - self.first}")


def build(reader: str, prefix: str, tally: Tally, data_dir: Path) -> faust.App:
    """A Faust app configured as the worker's is for reading, with one reader."""
    app = reading_app(f"{prefix}{reader}-{uuid.uuid4().hex[:8]}", data_dir)  # a new group
    names = [f"{prefix}{topic}" for topic in INPUT_TOPICS]
    if reader == "faust":
        inputs = app.topic(*names, key_type=bytes, value_type=bytes)

        @app.agent(inputs, name="reader")
        async def agent(stream: Any) -> None:
            async for events in stream.take_events(FORWARD_BATCH, within=FORWARD_WITHIN_S):
                tally.took([event.message.value for event in events])

    elif reader == "aiokafka":

        @app.task
        async def own_aiokafka() -> None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=broker.BOOTSTRAP,
                enable_auto_commit=False,
                max_partition_fetch_bytes=4 << 20,
            )
            await consumer.start()
            partitions = [TopicPartition(n, p) for n in names for p in range(PARTITIONS)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            while True:
                batches = await consumer.getmany(timeout_ms=100, max_records=FORWARD_BATCH)
                for records in batches.values():
                    tally.took([record.value for record in records])

    else:

        @app.task
        async def own_confluent() -> None:
            consumer = Consumer(
                {
                    "bootstrap.servers": broker.BOOTSTRAP,
                    "group.id": f"{prefix}confluent-{uuid.uuid4().hex[:8]}",
                    "enable.auto.commit": False,
                }
            )
            consumer.assign([ConfluentPartition(n, p, 0) for n in names for p in range(PARTITIONS)])
            while True:
                messages = consumer.consume(FORWARD_BATCH, timeout=0)
                if messages:
                    tally.took([message.value() for message in messages])
                else:
                    await asyncio.sleep(0.005)  # nothing fetched yet: let the loop run

    return app


def run_reader(reader: str, prefix: str, count: int) -> tuple[float, float]:
    """Seconds from the reader's start until it has read `count` messages, and from its
    first message to its last."""
    module = ["bench.prototypes.read_loop", reader, prefix, str(count)]
    whole, reading = broker.until_marked(f"{reader} reader", module, READ_WITHIN_S)
    return whole, float(reading)


def main(argv: list[str]) -> int:
    if argv and argv[0] in READERS:
        reader, prefix, count, marker, data_dir = argv
        tally = Tally(int(count), Path(marker))
        app = build(reader, prefix, tally, Path(data_dir))
        faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
        return 0
    events = int(argv[0]) if argv else 200_000
    messages = simulated(events)
    with preloaded(messages) as settings:
        print(f"{len(messages):,} messages on {settings.partitions} partitions per input topic")
        for _ in range(2):
            for reader in READERS:
                whole, reading = run_reader(reader, settings.topic_prefix, len(messages))
                print(
                    f"{reader:<10} {len(messages) / reading:>10,.0f} messages/s read and "
                    f"decoded ({len(messages) / whole:,.0f} from the app's start)"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
