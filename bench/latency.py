"""Event-to-alert latency at a fixed input rate: simulated events sent at `rate` per second
for `seconds` to a worker already running, each stamped with its send time. An alert's
latency is the timestamp of its record on `alerts` (set when the worker published it) minus
the send time of the event that triggered it. When the worker cannot keep up, the backlog
grows for as long as the sending lasts, and the latency with it."""

import asyncio
import itertools
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench import broker
from duanka.settings import Settings
from duanka.simulator.scenario import Scenario, ScenarioConfig, SimulatedMessage
from duanka.topics import ensure_topics

SEED = 11
INJECTION_RATE = 0.05
"""A pattern starts with one event in twenty, so that a short run raises enough alerts."""
EVENT_SECONDS = 30.0
"""Event time per event: patterns play out over hours and days of event time, so a run of
seconds must cover days of it to raise alerts. Event times end a minute before the run."""


@dataclass(frozen=True)
class LatencyResult:
    """Latencies of the alerts raised by one paced run."""

    rate: int
    seconds: float
    events: int
    latencies_ms: list[float]
    sent_over_s: float
    """How long sending took: longer than `seconds` when the sender could not keep the rate."""
    drained_after_s: float
    """From the last send until the worker had committed everything."""

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def as_json(self) -> dict[str, object]:
        return {
            "setup": f"{self.events} simulated events sent at {self.rate}/s for "
            f"{self.seconds:g} s to one running worker; latency = alert record timestamp "
            "minus the triggering event's send time",
            "rate": self.rate,
            "events": self.events,
            "alerts": len(self.latencies_ms),
            "p50_ms": round(self.percentile(0.50)),
            "p99_ms": round(self.percentile(0.99)),
            "max_ms": round(max(self.latencies_ms)),
            "sent_over_s": round(self.sent_over_s, 1),
            "drained_after_s": round(self.drained_after_s, 1),
        }


def paced(rate: int, seconds: float) -> list[SimulatedMessage]:
    """`rate * seconds` simulated events, ending in event time a minute before now."""
    count = int(rate * seconds)
    start = datetime.now(UTC) - timedelta(seconds=count * EVENT_SECONDS, minutes=1)
    config = ScenarioConfig(
        SEED, start, seconds_per_event=EVENT_SECONDS, injection_rate=INJECTION_RATE
    )
    return list(itertools.islice(Scenario(config).messages(), count))


async def send_paced(prefix: str, messages: list[SimulatedMessage], rate: int) -> dict[str, int]:
    """Send the messages at `rate` per second; each event id's send time (ms)."""
    producer = AIOKafkaProducer(bootstrap_servers=broker.BOOTSTRAP, linger_ms=5)
    await producer.start()
    sent: dict[str, int] = {}
    try:
        began = time.monotonic()
        for number, message in enumerate(messages):
            delay = began + number / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            stamp = int(time.time() * 1000)
            await producer.send(
                f"{prefix}{message.topic}",
                message.encoded_value(),
                key=message.key.encode(),
                timestamp_ms=stamp,
            )
            event_id = (message.value or {}).get("event_id")  # watchlist records have none
            if event_id is not None:
                sent[event_id] = stamp
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def alert_latencies(topic: str, partitions: int, sent: dict[str, int]) -> list[float]:
    """For every alert on `topic` triggered by a sent event: ms from send to publication."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.BOOTSTRAP, enable_auto_commit=False)
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        latencies = []
        while [tp for tp in assigned if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    trigger = orjson.loads(record.value)["trigger_event_id"]
                    if trigger in sent:
                        latencies.append(float(record.timestamp - sent[trigger]))
        return latencies
    finally:
        await consumer.stop()


def run(rate: int, seconds: float) -> LatencyResult:
    """Send `rate` events per second for `seconds` to a fresh worker; its alert latencies."""
    prefix = broker.new_prefix()
    settings = Settings(broker=f"kafka://{broker.BOOTSTRAP}", topic_prefix=prefix)
    messages = paced(rate, seconds)
    asyncio.run(ensure_topics(settings))
    try:
        with tempfile.TemporaryDirectory() as directory:
            worker = broker.start_worker(prefix, Path(directory) / "data", Path(directory) / "log")
            try:
                began = time.perf_counter()
                sent = asyncio.run(send_paced(prefix, messages, rate))
                finished = time.perf_counter()
                asyncio.run(broker.until_drained(prefix))
                drained_after = time.perf_counter() - finished
            finally:
                broker.stop_worker(worker)
        latencies = asyncio.run(
            alert_latencies(settings.topic("alerts"), settings.partitions, sent)
        )
    finally:
        asyncio.run(broker.delete_topics(prefix))
    if not latencies:
        raise RuntimeError(f"no alerts at {rate}/s over {seconds:g} s: nothing to measure")
    return LatencyResult(rate, seconds, len(messages), latencies, finished - began, drained_after)
