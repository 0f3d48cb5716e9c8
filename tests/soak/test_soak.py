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
import sys
import zlib
from contextlib import nullcontext, suppress
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.integration.conftest import RunningWorker, require_broker
from tests.integration.world import (
    PACED_RATE,
    Group,
    assert_replays,
    backlog,
    load,
    load_skewed,
    publish,
)

pytestmark = [pytest.mark.integration, pytest.mark.soak]

RUNS = int(os.environ.get("DUANKA_SOAK_RUNS", "10"))
NEIGHBOUR = """
import time
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
    """Pauses the workers now and then while a neighbour loads the machine, for as long as
    it is entered."""

    def __init__(self, workers: list[RunningWorker], seed: int) -> None:
        self.workers = workers
        self.rng = random.Random(seed)

    async def __aenter__(self) -> None:
        self.neighbour = await asyncio.create_subprocess_exec(sys.executable, "-c", NEIGHBOUR)
        self.task = asyncio.create_task(self._pause())

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        with suppress(asyncio.CancelledError):
            await self.task
        for worker in self.workers:
            with suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGCONT)
        self.neighbour.kill()
        await self.neighbour.wait()

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

    async def disrupt(group: Group) -> None:
        """Under the nemesis if this run has it: kill and restart, or add, the last
        worker at 40 % of the paced writing; then wait to be cancelled."""
        seed = zlib.crc32(tmp_path.name.encode())
        async with Nemesis(group.running, seed) if nemesis else nullcontext():
            if case.disruption is not None:
                await asyncio.sleep(len(history) / PACED_RATE * 0.4)
                last = case.workers - 1
                if case.disruption == "kill":
                    group.running[last].process.kill()  # SIGKILL: no shutdown, no commit
                    group.running[last].process.wait()
                await group.start(last)
            await asyncio.Event().wait()

    first = case.workers - (case.disruption == "join")
    loader = load_skewed if case.paced else load
    found = await publish(tmp_path, history, loader, case.paced, first, disrupt)
    assert_replays(found, history)
