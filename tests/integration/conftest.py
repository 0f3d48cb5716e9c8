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
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from duanka.detector.core.intake import INPUT_TOPICS
from duanka.detector.core.routing import SUBJECT_KINDS
from duanka.schemas.alerts import Alert
from duanka.schemas.cases import Case
from duanka.schemas.codec import decode
from duanka.settings import Settings
from duanka.topics import case_alerts_topic, subject_events_topic

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
            [sys.executable, "-m", "duanka", "worker"],
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
    """Stop the worker's process (`stop_process`)."""
    stop_process(worker.process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it does not stop within 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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
    for [running] in module_workers(tmp_path_factory, [name], prefix, **env):
        yield running


def module_workers(
    tmp_path_factory: pytest.TempPathFactory,
    names: list[str],
    prefix: str | None = None,
    **env: str,
) -> Iterator[list[RunningWorker]]:
    """For a module-scoped fixture to `yield from`: workers of one group, one per name,
    each started once the one before is ready, with their own topic prefix and data
    directories; stopped and their topics deleted afterwards."""
    require_broker()
    prefix = prefix or new_prefix()
    running = []
    try:
        for name in names:
            directory = tmp_path_factory.mktemp(name)
            running.append(
                start_worker(prefix, directory / "data", directory / "worker.log", **env)
            )
        yield running
    finally:
        for name, worker in zip(names, running, strict=False):
            stop_worker(worker)
            print(f"--- {name} log tail ---\n{worker.log_tail(30)}")
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
    ) -> int:
        """Write one record; its offset."""
        raw = orjson.dumps(value) if isinstance(value, dict) else value
        key_bytes = key.encode() if isinstance(key, str) else key
        sent = await self.producer.send_and_wait(topic, raw, key=key_bytes, partition=partition)
        return int(sent.offset)

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


async def drained(prefix: str, group: str) -> bool:
    """Whether the worker group has committed every message of the input topics, and of
    its subject topics everything written up to then: workers keep writing progress reports
    to those while idle, so they never stand still. The partitions are the broker's
    (`topic_partitions`), so a partition the group never committed counts. Waits up to
    `SUBJECTS_DRAIN_WITHIN_S` for the subject topics once the inputs are done."""
    settings = Settings(broker=f"kafka://{BOOTSTRAP}", topic_prefix=prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    await consumer.start()
    try:
        inputs = await topic_partitions(admin, [settings.topic(t) for t in INPUT_TOPICS])
        subjects = await topic_partitions(
            admin, [subject_events_topic(settings, kind) for kind in SUBJECT_KINDS]
        )
        ends = await consumer.end_offsets([*inputs, *subjects])
        starts = await consumer.beginning_offsets(inputs)
        holding = [tp for tp in inputs if ends[tp] > starts[tp]]
        committed = await admin.list_consumer_group_offsets(group)
        if not all(tp in committed and committed[tp].offset >= ends[tp] for tp in holding):
            return False
        deadline = time.monotonic() + SUBJECTS_DRAIN_WITHIN_S
        while time.monotonic() < deadline:
            committed = await admin.list_consumer_group_offsets(group)
            if all(tp in committed and committed[tp].offset >= ends[tp] for tp in subjects):
                return True
            await asyncio.sleep(0.5)
        return False
    finally:
        await consumer.stop()
        await admin.close()


async def until_linked(prefix: str, group: str, within_s: float = 60.0) -> None:
    """Wait until the case linker has committed every alert sent to it (after `drained`:
    subject agents send alerts to it until they have committed)."""
    settings = Settings(broker=f"kafka://{BOOTSTRAP}", topic_prefix=prefix)
    tp = TopicPartition(case_alerts_topic(settings), 0)
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    await consumer.start()
    try:
        deadline = time.monotonic() + within_s
        while True:
            end = (await consumer.end_offsets([tp]))[tp]
            committed = await admin.list_consumer_group_offsets(group)
            if end == 0 or (tp in committed and committed[tp].offset >= end):
                return
            assert time.monotonic() < deadline, f"the linker did not reach {end} in {within_s} s"
            await asyncio.sleep(0.5)
    finally:
        await consumer.stop()
        await admin.close()


def assert_same_cases(found: dict[str, Case], expected: dict[str, Case]) -> None:
    """The same cases, each's latest record the same but when it was made. Cases merged
    into others are left out: which cases form before they merge depends on the order the
    alerts come in."""
    found, expected = standing(found), standing(expected)
    missing, extra = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
    assert not missing and not extra, f"cases missing {missing}, extra {extra}"
    for case_id, case in found.items():
        assert case.model_dump(exclude={"updated_at"}) == expected[case_id].model_dump(
            exclude={"updated_at"}
        ), case_id


def standing(cases: dict[str, Case]) -> dict[str, Case]:
    """The cases not merged into another."""
    return {case_id: case for case_id, case in cases.items() if case.status != "merged"}


async def published_cases(topic: str) -> dict[str, Case]:
    """The latest record of every case on the topic, by case id."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        latest: dict[str, Case] = {}
        while True:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    case = decode(Case, record.value)
                    latest[case.case_id] = case
            assigned = consumer.assignment()
            ends = await consumer.end_offsets(list(assigned)) if assigned else {}
            if assigned and all([await consumer.position(tp) >= ends[tp] for tp in assigned]):
                return latest
    finally:
        await consumer.stop()


async def topic_partitions(admin: AIOKafkaAdminClient, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the topics, as the broker describes them; fails for a topic that
    is missing or has none (a drained check must never pass with nothing to check)."""
    described = await admin.describe_topics(topics)
    found = {
        (topic["topic"], partition["partition"])
        for topic in described
        if topic["error_code"] == 0
        for partition in topic["partitions"]
    }
    missing = set(topics) - {topic for topic, _ in found}
    assert not missing, f"the broker describes no partitions of {sorted(missing)}"
    return [TopicPartition(topic, partition) for topic, partition in sorted(found)]


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


def assert_same_patterns(found: list[Alert], expected: list[Alert]) -> None:
    """Every (rule, subject) replay alerts, and no other."""
    pairs_found = {(a.rule, a.subject.id) for a in found}
    pairs_expected = {(a.rule, a.subject.id) for a in expected}
    missing, extra = pairs_expected - pairs_found, pairs_found - pairs_expected
    assert not missing and not extra, f"missing {sorted(missing)}, extra {sorted(extra)}"


def assert_same_alerts(found: list[Alert], expected: list[Alert], repeats_allowed: bool) -> None:
    """Every expected alert, by id and content, nothing else; a repeat only of the very
    same alert, and only if `repeats_allowed` (docs/guarantees.md)."""
    assert_same_patterns(found, expected)
    ids_found, ids_expected = {a.alert_id for a in found}, {a.alert_id for a in expected}
    assert ids_found == ids_expected, "\n".join(
        f"{'found' if a.alert_id in ids_found else 'replay'}: {a.rule} {a.subject.id} "
        f"trigger {a.trigger_event_id} window {a.window.start}..{a.window.end}"
        for a in sorted(
            [x for x in found if x.alert_id not in ids_expected]
            + [x for x in expected if x.alert_id not in ids_found],
            key=lambda x: (x.rule, x.subject.id),
        )
    )
    by_id = {a.alert_id: a.model_dump(exclude={"detected_at"}) for a in expected}
    for alert in found:
        assert alert.model_dump(exclude={"detected_at"}) == by_id[alert.alert_id]
    repeats = Counter(a.alert_id for a in found) - Counter(a.alert_id for a in expected)
    print(f"{len(found)} alerts, {sum(repeats.values())} repeated after the disruption")
    assert repeats_allowed or not repeats, f"{sum(repeats.values())} alerts repeated"


def lifted_identities(history: bytes) -> set[str]:
    """The identities a replay file lifts a listing of (a tombstone on `watchlist`)."""
    lines = [orjson.loads(line) for line in history.splitlines()]
    return {line["key"] for line in lines if line["topic"] == "watchlist" and line["value"] is None}


def assert_no_lifted_listing_alerted(found: list[Alert], lifted: set[str]) -> None:
    """No `watchlisted_identity` for a person whose listing was lifted (the simulated ones
    are lifted before they come back); the stream must hold some."""
    assert len(lifted) >= 2, "too few lifted listings in the stream to show anything"
    wrong = [a for a in found if a.rule == "watchlisted_identity" and a.subject.id in lifted]
    assert not wrong, "\n".join(a.summary for a in wrong)
