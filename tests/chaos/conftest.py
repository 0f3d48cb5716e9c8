"""A paced stream of simulated carriers and banks into the real broker, what replay says of
the same stream, and the comparison of a disturbed worker's alerts with it.

`make chaos` sets DUANKA_CHAOS_EVENTS (the crash run's length) and DUANKA_CHAOS_RATE."""

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas.alerts import Alert
from services.detector.core.engine import Engine
from services.detector.core.policy import Policy
from services.replay.replayer import Replayer
from tests.integration.conftest import BOOTSTRAP, all_alerts, drained, rss_mib

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

    @property
    def seconds(self) -> float:
        return self.events / self.rate

    def start(self, prefix: str) -> subprocess.Popen[bytes]:
        """Start sending the stream to the topics of `prefix`."""
        return subprocess.Popen(
            [sys.executable, "-m", "services", "simulate", *self.args],
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
            assert letter is None, letter
            expected += alerts
    assert len({a.rule for a in expected}) >= 6, "too short a stream to show much"
    return Stream(args, events, rate, expected)


def simulated_history(
    tmp_path: Path, events: int, seed: int, rate: float = RATE
) -> tuple[list[str], Path]:
    """The `duanka simulate` arguments of a paced stream, and the replay file (`--out`) of
    the same stream."""
    start = datetime.now(UTC) - timedelta(seconds=events * SPEED / RATE) - timedelta(days=30)
    args = [
        *("--events", str(events), "--rate", str(rate), "--speed", str(SPEED * rate / RATE)),
        *("--seed", str(seed), "--start", start.isoformat(), "--injection-rate", "0.05"),
    ]
    history = tmp_path / "history.jsonl"
    subprocess.run(
        [sys.executable, "-m", "services", "simulate", *args, "--out", str(history)],
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


def assert_same_patterns(found: list[Alert], expected: list[Alert]) -> None:
    """Every (rule, subject) replay alerts, and no other."""
    pairs_found = {(a.rule, a.subject.id) for a in found}
    pairs_expected = {(a.rule, a.subject.id) for a in expected}
    missing, extra = pairs_expected - pairs_found, pairs_found - pairs_expected
    assert not missing and not extra, f"missing {sorted(missing)}, extra {sorted(extra)}"


def assert_same_alerts(found: list[Alert], expected: list[Alert], repeats_allowed: bool) -> None:
    """Every expected alert, by id and content, nothing else; a repeat only of the very
    same alert, and only if `repeats_allowed` (README, Guarantees)."""
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
