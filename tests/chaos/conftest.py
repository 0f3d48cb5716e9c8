"""A paced stream of simulated carriers and banks into the real broker, what replay says of
the same stream, and the comparison of a disturbed worker's alerts with it.

`make chaos` sets DUANKA_CHAOS_EVENTS (the crash run's length) and DUANKA_CHAOS_RATE."""

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from duanka.detector.core.engine import Engine
from duanka.detector.core.policy import Policy
from duanka.replay.replayer import Replayer
from duanka.schemas.alerts import Alert
from duanka.simulator.scenario import PATTERN_SPAN
from tests.integration.conftest import BOOTSTRAP, all_alerts, drained, lifted_identities, rss_mib

RATE = float(os.environ.get("DUANKA_CHAOS_RATE", "300"))
"""Events per second of the paced streams."""
SPEED = 360.0
"""Simulated seconds per real second at RATE; a faster stream packs events no closer in
simulated time."""
DRAIN_WITHIN_S = 900
MAX_RSS_MIB = 400
"""The most memory a worker may take under hostile input or a burst."""


@dataclass(frozen=True)
class Stream:
    """One paced stream, and the alerts replay raises for it."""

    args: list[str]
    events: int
    rate: float
    expected: list[Alert]
    lifted: set[str]
    """Identities whose listing was lifted in the stream."""

    @property
    def seconds(self) -> float:
        return self.events / self.rate

    def start(self, prefix: str) -> subprocess.Popen[bytes]:
        """Start sending the stream to the topics of `prefix`."""
        return subprocess.Popen(
            [sys.executable, "-m", "duanka", "simulate", *self.args],
            env=_environment(prefix),
            stderr=subprocess.PIPE,
        )


def paced_stream(tmp_path: Path, events: int, seed: int = 41, rate: float = RATE) -> Stream:
    """A stream of `events` simulated events at `rate` per second, 5% of them patterns."""
    args, history = simulated_history(tmp_path, events, seed, rate)
    replayer = Replayer(Engine(Policy()))
    expected: list[Alert] = []
    with history.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            alerts, letter = replayer.replay_line(line, number)
            assert letter is None or letter.topic == "dispositions", letter  # repeated
            expected += alerts
    assert len({a.rule for a in expected}) >= 6, "too short a stream to show much"
    return Stream(args, events, rate, expected, lifted_identities(history.read_bytes()))


def simulated_history(
    tmp_path: Path, events: int, seed: int, rate: float = RATE
) -> tuple[list[str], Path]:
    """The `duanka simulate` arguments of a paced stream, and the replay file (`--out`) of
    the same stream."""
    start = datetime.now(UTC) - timedelta(seconds=events * SPEED / RATE) - PATTERN_SPAN
    args = [
        *("--events", str(events), "--rate", str(rate), "--speed", str(SPEED * rate / RATE)),
        *("--seed", str(seed), "--start", start.isoformat(), "--injection-rate", "0.05"),
    ]
    history = tmp_path / "history.jsonl"
    subprocess.run(
        [sys.executable, "-m", "duanka", "simulate", *args, "--out", str(history)],
        env=_environment("unused."),
        check=True,
        capture_output=True,
    )
    return args, history


class RssSampler:
    """The largest resident set size of a process, sampled every half second."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0.0
        self._task = asyncio.get_running_loop().create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mib(self.pid))
            await asyncio.sleep(0.5)

    def stop(self) -> None:
        self._task.cancel()


def _environment(prefix: str) -> dict[str, str]:
    return {**os.environ, "DUANKA_BROKER": f"kafka://{BOOTSTRAP}", "DUANKA_TOPIC_PREFIX": prefix}


async def finish(producer: subprocess.Popen[bytes], stream: Stream) -> None:
    """Wait for the stream to be sent in full; fails if the simulator failed."""
    _, errors = await asyncio.to_thread(producer.communicate, timeout=stream.seconds * 3 + 120)
    assert producer.returncode == 0, errors.decode(errors="replace")


async def drain(prefix: str, log_tail: str = "") -> list[Alert]:
    """Every alert, once the group has committed everything there is to read."""
    deadline = time.monotonic() + DRAIN_WITHIN_S
    while not await drained(prefix, f"{prefix}duanka"):
        assert time.monotonic() < deadline, f"not drained in {DRAIN_WITHIN_S} s\n{log_tail}"
        await asyncio.sleep(2)
    return await all_alerts(f"{prefix}alerts")
