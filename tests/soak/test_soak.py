"""The backlog test's world through the real broker, many times over: as a backlog and
paced; one, two and three workers; a worker killed with SIGKILL and restarted; a second
worker joining mid-stream. Half of the runs are under a pause nemesis, as Jepsen pauses
nodes: a worker stopped (SIGSTOP) and continued (SIGCONT) after 0.2 to 2 s at random
moments, and a neighbour loading the CPU and memory. Every run's alerts must be replay's,
by id and content, and its cases replay's. `make soak` runs it (`DUANKA_SOAK_RUNS` runs of
each case, 10 by default) and prints the failures per case."""

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import zlib
from contextlib import suppress
from pathlib import Path
from typing import NamedTuple

import orjson
import pytest

from services.settings import Settings
from services.topics import ensure_topics
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
    require_broker,
    start_worker,
    stop_worker,
    until_linked,
)
from tests.integration.world import PACED_RATE, backlog, load, load_skewed, replayed

pytestmark = [pytest.mark.integration, pytest.mark.soak]

RUNS = int(os.environ.get("DUANKA_SOAK_RUNS", "10"))
DRAIN_WITHIN_S = 300
NEIGHBOUR = """
import time
import zlib
while True:
    ballast = bytearray(300 * 1024 * 1024)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    del ballast
    end = time.monotonic() + 2
    while time.monotonic() < end:
        sum(range(10_000))
"""
"""A neighbour process: a few hundred MiB touched and let go, then two seconds of busy
CPU, over and over."""


class Case(NamedTuple):
    workers: int
    paced: bool
    disruption: str | None
    """None, "kill" (the last worker killed with SIGKILL at 40 % and restarted), or "join"
    (the last worker started at 40 %)."""


CASES = {
    "backlog-one-worker": Case(1, False, None),
    "backlog-two-workers": Case(2, False, None),
    "backlog-three-workers": Case(3, False, None),
    "paced-one-worker": Case(1, True, None),
    "paced-two-workers": Case(2, True, None),
    "paced-three-workers": Case(3, True, None),
    "paced-worker-killed": Case(2, True, "kill"),
    "paced-worker-joins": Case(2, True, "join"),
}


class Nemesis:
    """Pauses the workers now and then while a neighbour loads the machine."""

    def __init__(self, workers: list[RunningWorker], seed: int) -> None:
        self.workers = workers
        self.rng = random.Random(seed)
        self.pauses = 0
        self.neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR])
        self.task = asyncio.create_task(self._pause())

    async def _pause(self) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(0.5, 4.0))
            running = [w for w in self.workers if w.process.poll() is None]
            if not running:
                continue
            worker = self.rng.choice(running)
            with suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGSTOP)
                try:
                    await asyncio.sleep(self.rng.uniform(0.2, 2.0))
                finally:
                    worker.process.send_signal(signal.SIGCONT)
                self.pauses += 1

    async def stop(self) -> None:
        self.task.cancel()
        with suppress(asyncio.CancelledError):
            await self.task
        for worker in self.workers:
            with suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGCONT)
        self.neighbour.kill()
        self.neighbour.wait()


RUN_IDS = [
    pytest.param(name, nemesis, id=f"{name}-{'paused' if nemesis else 'quiet'}-{n}")
    for name in CASES
    for n in range(RUNS)
    for nemesis in [n % 2 == 1]
]


@pytest.mark.parametrize(("name", "nemesis"), RUN_IDS)
async def test_the_workers_publish_exactly_replays_alerts(
    tmp_path: Path, name: str, nemesis: bool
) -> None:
    require_broker()
    case = CASES[name]
    history = backlog()
    expected, expected_cases = replayed(history)
    prefix = new_prefix()
    await ensure_topics(Settings(broker=f"kafka://{BOOTSTRAP}", topic_prefix=prefix))
    if not case.paced:
        await load(prefix, history)
    running: list[RunningWorker] = []
    pauser = None

    async def start(n: int) -> RunningWorker:
        log = tmp_path / f"worker-{n}-{len(running)}.log"
        worker = await asyncio.to_thread(start_worker, prefix, tmp_path / f"{n}", log)
        running.append(worker)
        return worker

    try:
        first = case.workers - (case.disruption == "join")
        for n in range(first):
            await start(n)
        if nemesis:
            pauser = Nemesis(running, zlib.crc32(tmp_path.name.encode()))
        if case.paced:
            loading = asyncio.create_task(load_skewed(prefix, history, PACED_RATE))
            if case.disruption is not None:
                await asyncio.sleep(len(history) / PACED_RATE * 0.4)
                last = case.workers - 1
                if case.disruption == "kill":
                    running[last].process.kill()  # SIGKILL: no shutdown, no final commit
                    running[last].process.wait()
                await start(last)
            await loading
        deadline = time.monotonic() + DRAIN_WITHIN_S
        while not await drained(prefix, f"{prefix}duanka"):
            assert time.monotonic() < deadline, running[-1].log_tail()
            await asyncio.sleep(2)
        found = await all_alerts(f"{prefix}alerts")
        await until_linked(prefix, f"{prefix}duanka")
        cases = await published_cases(f"{prefix}cases")
    finally:
        if pauser is not None:
            await pauser.stop()
        for worker in running:
            stop_worker(worker)
        await delete_topics(prefix)
    assert_same_alerts(found, expected, repeats_allowed=len(running) > 1)
    assert_same_cases(cases, expected_cases)
    lines = b"\n".join(orjson.dumps(m.as_replay_line()) for m in history)
    assert_no_lifted_listing_alerted(found, lifted_identities(lines))
