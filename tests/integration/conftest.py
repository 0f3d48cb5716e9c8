"""A real worker against the real local broker (`make kafka-up`), one per test module.

Every module gets its own topic prefix, so its topics, consumer group and changelogs are its
own; they are deleted afterwards.
"""

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from schemas.alerts import Alert
from schemas.codec import decode

BOOTSTRAP = os.environ.get("DUANKA_TEST_BOOTSTRAP", "127.0.0.1:9092")
SUBJECTS_DRAIN_WITHIN_S = 60.0


def require_broker() -> None:
    """Fail (not skip) without a broker: integration tests are part of `make test`."""
    host, port = BOOTSTRAP.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return
    except OSError:
        pytest.fail(f"no Kafka broker at {BOOTSTRAP}: run `make kafka-up` (make test does)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningWorker:
    """A `duanka worker` subprocess and the names it uses."""

    prefix: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False


def start_worker(prefix: str, data_dir: Path, log: Path, **env: str) -> RunningWorker:
    """Start a worker and wait until it is ready; fails with the worker's log otherwise."""
    port = _free_port()
    environment = {
        **os.environ,
        "DUANKA_BROKER": f"kafka://{BOOTSTRAP}",
        "DUANKA_TOPIC_PREFIX": prefix,
        "DUANKA_WEB_PORT": str(port),
        "DUANKA_WEB_HOST": "127.0.0.1",
        "DUANKA_DATA_DIR": str(data_dir),
        "DUANKA_CANONICAL_URL": f"http://127.0.0.1:{port}",
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services", "worker"],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    worker = RunningWorker(prefix, port, log, process)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"worker exited with {process.returncode}:\n{worker.log_tail()}")
        if worker.ready():
            return worker
        time.sleep(0.3)
    stop_worker(worker)
    pytest.fail(f"worker not ready after 90 s:\n{worker.log_tail()}")


def rss_mib(pid: int) -> float:
    """The resident set size of a running process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for process {pid}")


def stop_worker(worker: RunningWorker) -> None:
    """SIGTERM, then SIGKILL if it does not stop within 30 s."""
    worker.process.terminate()
    try:
        worker.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        worker.process.wait()


async def delete_topics(prefix: str) -> None:
    """Delete every topic whose name starts with `prefix`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


def new_prefix() -> str:
    """A topic prefix no other test run uses."""
    return f"it-{uuid.uuid4().hex[:8]}."


def module_worker(
    tmp_path_factory: pytest.TempPathFactory, name: str, prefix: str | None = None, **env: str
) -> Iterator[RunningWorker]:
    """For a module-scoped fixture to `yield from`: a worker with its own topic prefix and
    data directory, stopped and its topics deleted afterwards."""
    require_broker()
    prefix = prefix or new_prefix()
    directory = tmp_path_factory.mktemp(name)
    running = start_worker(prefix, directory / "data", directory / "worker.log", **env)
    yield running
    stop_worker(running)
    print(f"--- {name} log tail ---\n{running.log_tail(30)}")
    asyncio.run(delete_topics(prefix))


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorker]:
    yield from module_worker(tmp_path_factory, "worker")


class Kafka:
    """Produce to and read back from the broker, with deadlines instead of sleeps."""

    def __init__(self) -> None:
        self.producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)

    async def send(
        self,
        topic: str,
        value: bytes | dict[str, object] | None,
        key: bytes | str | None = None,
        partition: int | None = None,
    ) -> None:
        raw = orjson.dumps(value) if isinstance(value, dict) else value
        key_bytes = key.encode() if isinstance(key, str) else key
        await self.producer.send_and_wait(topic, raw, key=key_bytes, partition=partition)

    async def read_until(
        self,
        topic: str,
        done: Callable[[list[bytes]], bool],
        within: float = 60.0,
    ) -> list[bytes]:
        """Read `topic` from the beginning until `done(values)`, or `within` seconds pass."""
        records = await self.read_records_until(
            topic, lambda rs: done([value for _, value in rs]), within
        )
        return [value for _, value in records]

    async def read_records_until(
        self,
        topic: str,
        done: Callable[[list[tuple[bytes | None, bytes | None]]], bool],
        within: float = 60.0,
    ) -> list[tuple[bytes | None, bytes | None]]:
        """Read (key, value) pairs of `topic` from the beginning until `done(pairs)`, or
        `within` seconds pass."""
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=BOOTSTRAP,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        pairs: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + within
        try:
            while not done(pairs):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                batches = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
                for records in batches.values():
                    pairs.extend((r.key, r.value) for r in records)
        finally:
            await consumer.stop()
        return pairs

    async def alerts(
        self,
        worker: RunningWorker,
        done: Callable[[list[Alert]], bool],
        within: float = 60.0,
    ) -> list[Alert]:
        """Alerts on the worker's `alerts` topic, read until `done(alerts)` or `within` s."""
        raws = await self.read_until(
            worker.topic("alerts"), lambda vs: done([decode(Alert, v) for v in vs]), within
        )
        return [decode(Alert, v) for v in raws]


@pytest.fixture
async def kafka() -> AsyncIterator[Kafka]:
    client = Kafka()
    await client.producer.start()
    yield client
    await client.producer.stop()


async def drained(prefix: str, group: str, input_topics: int = 3) -> bool:
    """Whether the worker's group has committed every message of the input topics it reads
    (at least `input_topics` of them with messages: a group commits nothing for a topic it
    has read nothing of), and of its subject topics everything written up to then: workers
    keep writing progress reports to those while idle, so they never stand still. Waits up
    to `SUBJECTS_DRAIN_WITHIN_S` for the subject topics once the inputs are done."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        read = [tp for tp in committed if tp.topic.startswith(prefix)]
        ends = await consumer.end_offsets(read) if read else {}
        subjects = [tp for tp in read if tp.topic.endswith("-events")]
        inputs = [tp for tp in read if tp not in subjects]
        if not (
            len({tp.topic for tp in inputs}) >= input_topics
            and len({tp.topic for tp in subjects}) == 4
            and all(committed[tp].offset == ends[tp] for tp in inputs)
        ):
            return False
        deadline = time.monotonic() + SUBJECTS_DRAIN_WITHIN_S
        while time.monotonic() < deadline:
            committed = await admin.list_consumer_group_offsets(group)
            if all(committed[tp].offset >= ends[tp] for tp in subjects):
                return True
            await asyncio.sleep(0.5)
        return False
    finally:
        await consumer.stop()
        await admin.close()


async def all_alerts(topic: str) -> list[Alert]:
    """Every alert on the topic, read to its current end."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        alerts: list[Alert] = []
        while True:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                alerts += [decode(Alert, r.value) for r in records]
            assigned = consumer.assignment()
            ends = await consumer.end_offsets(list(assigned)) if assigned else {}
            if assigned and all([await consumer.position(tp) >= ends[tp] for tp in assigned]):
                return alerts
    finally:
        await consumer.stop()
