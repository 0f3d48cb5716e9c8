"""A worker killed with SIGKILL in the middle of a paced stream, or losing its local state
while down, loses no alert: after a restart, the alerts on `alerts` are exactly those that
replay of the same stream raises, by `alert_id`, and an alert appears twice only with the
same id (at-least-once; README, Guarantees).

`make test` runs a short stream; `make chaos` sets DUANKA_CHAOS_EVENTS=100000."""

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.alerts import Alert
from services.detector.core.engine import Engine
from services.detector.core.policy import Policy
from services.replay.replayer import Replayer
from tests.integration.conftest import (
    BOOTSTRAP,
    RunningWorker,
    all_alerts,
    delete_topics,
    drained,
    new_prefix,
    require_broker,
    start_worker,
    stop_worker,
)

pytestmark = pytest.mark.integration

EVENTS = int(os.environ.get("DUANKA_CHAOS_EVENTS", "3000"))
RATE = float(os.environ.get("DUANKA_CHAOS_RATE", "300"))
SEED = 41
SPEED = 360.0
"""Simulated seconds per real second: the stream spans EVENTS * SPEED / RATE seconds."""
DRAIN_WITHIN_S = 600


@dataclass(frozen=True)
class Stream:
    """One paced stream of simulated carriers and banks, and what replay says of it."""

    args: list[str]
    expected: list[Alert]

    @property
    def seconds(self) -> float:
        return EVENTS / RATE


def paced_stream(tmp_path: Path) -> Stream:
    start = datetime.now(UTC) - timedelta(seconds=EVENTS * SPEED / RATE) - timedelta(days=30)
    args = [
        "--events",
        str(EVENTS),
        "--rate",
        str(RATE),
        "--speed",
        str(SPEED),
        "--seed",
        str(SEED),
        "--start",
        start.isoformat(),
        "--injection-rate",
        "0.05",
    ]
    history = tmp_path / "history.jsonl"
    simulate([*args, "--out", str(history)], prefix="unused.")
    replayer = Replayer(Engine(Policy()))
    expected: list[Alert] = []
    with history.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            alerts, letter = replayer.replay_line(line, number)
            assert letter is None, letter
            expected += alerts
    return Stream(args, expected)


def simulate(args: list[str], prefix: str) -> subprocess.Popen[bytes] | None:
    """`duanka simulate`: to a file, waited for; to Kafka, in the background."""
    environment = {
        **os.environ,
        "DUANKA_BROKER": f"kafka://{BOOTSTRAP}",
        "DUANKA_TOPIC_PREFIX": prefix,
    }
    command = [sys.executable, "-m", "services", "simulate", *args]
    if "--out" in args:
        subprocess.run(command, env=environment, check=True, capture_output=True)
        return None
    return subprocess.Popen(command, env=environment, stderr=subprocess.DEVNULL)


async def drain(worker: RunningWorker) -> list[Alert]:
    deadline = time.monotonic() + DRAIN_WITHIN_S
    while not await drained(worker.prefix, f"{worker.prefix}duanka"):
        assert time.monotonic() < deadline, worker.log_tail()
        await asyncio.sleep(2)
    return await all_alerts(worker.topic("alerts"))


def assert_same_alerts(found: list[Alert], expected: list[Alert]) -> None:
    """Every expected alert, by id, nothing else; a repeat only of the very same alert."""
    pairs_found = {(a.rule, a.subject.id) for a in found}
    pairs_expected = {(a.rule, a.subject.id) for a in expected}
    missing, extra = pairs_expected - pairs_found, pairs_found - pairs_expected
    assert not missing and not extra, f"missing {sorted(missing)}, extra {sorted(extra)}"
    ids_found, ids_expected = {a.alert_id for a in found}, {a.alert_id for a in expected}
    assert ids_found == ids_expected, "\n".join(
        f"{'found' if a in found else 'replay'}: {a.rule} {a.subject.id} trigger "
        f"{a.trigger_event_id} window {a.window.start}..{a.window.end} count {a.evidence.count}"
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


@pytest.mark.chaos
@pytest.mark.parametrize("lose_disk", [False, True], ids=["sigkill", "sigkill-and-lost-disk"])
async def test_a_killed_worker_restarts_and_loses_no_alert(tmp_path: Path, lose_disk: bool) -> None:
    require_broker()
    stream = paced_stream(tmp_path)
    assert len({a.rule for a in stream.expected}) >= 6
    prefix = new_prefix()
    data, log = tmp_path / "data", tmp_path / "worker.log"
    worker = start_worker(prefix, data, log)
    producer = simulate(stream.args, prefix)
    assert producer is not None
    try:
        await asyncio.sleep(stream.seconds * 0.4)
        worker.process.kill()  # SIGKILL: no shutdown, no final commit
        worker.process.wait()
        if lose_disk:
            shutil.rmtree(data)
        worker = start_worker(prefix, data, tmp_path / "restarted.log")
        await asyncio.to_thread(producer.wait, timeout=stream.seconds * 3 + 60)
        assert producer.returncode == 0
        found = await drain(worker)
    finally:
        producer.kill()
        stop_worker(worker)
        if not os.environ.get("KEEP"):
            await delete_topics(prefix)
    print("prefix", prefix)
    assert_same_alerts(found, stream.expected)
