"""Replay on the native core against replay on the Python reference, over whole simulated
worlds: every line's alerts and dead letter, every case record, every count, and the state
every subject is left in, the same.

The simulator's default mix carries what the engine meets in a province: bursts, gangs,
near misses, authorities' listings and tombstones, and institutions' dispositions, which
the case linker turns into confirmations and appeals at the subjects.
"""

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from duanka.detector.core.engine import Engine
from duanka.detector.core.policy import Policy
from duanka.detector.core.subject_memory import PythonMemory
from duanka.replay.replayer import Replayer
from duanka.simulator.scenario import Scenario, ScenarioConfig

START = datetime(2026, 9, 1, tzinfo=UTC)
WHEN = {"detected_at", "received_at", "updated_at"}


def lines(seed: int, events: int) -> list[bytes]:
    scenario = Scenario(ScenarioConfig(seed, START, seconds_per_event=20.0))
    messages = itertools.chain(itertools.islice(scenario.messages(), events), scenario.pending())
    return [orjson.dumps(message.as_replay_line()) for message in messages]


def timeless(document: Any) -> Any:
    """A JSON document without the wall-clock times replay stamps (when it detected or
    received something), which two runs cannot share."""
    if isinstance(document, dict):
        return {k: timeless(v) for k, v in document.items() if k not in WHEN}
    if isinstance(document, list):
        return [timeless(v) for v in document]
    return document


def held(replayer: Replayer) -> dict[tuple[str, str], Any]:
    """Every subject's state as the changelog would store it (what it sent, without when
    it detected it)."""
    return {slot: timeless(state.to_json()) for slot, state in replayer.states.items()}


def run(replayer: Replayer, replay_lines: list[bytes]) -> list[Any]:
    """Everything replay says, line by line and at the end, in order."""
    said: list[Any] = []
    numbered = list(enumerate(replay_lines, start=1))
    for first in range(0, len(numbered), 500):
        for alerts, letter in replayer.replay_batch(numbered[first : first + 500]):
            said.append([timeless(a.model_dump(mode="json")) for a in alerts])
            said.append(None if letter is None else timeless(letter.model_dump(mode="json")))
        said.append([timeless(c.model_dump(mode="json")) for c in replayer.take_cases()])
    said.append([timeless(d.model_dump(mode="json")) for d in replayer.finish()])
    return said


@pytest.mark.parametrize("seed", [3, 11])
def test_the_native_core_replays_a_world_as_the_reference_does(seed: int) -> None:
    replay_lines = lines(seed, 25_000)
    policy = Policy()
    native = Replayer(Engine(policy), sweep_every=5_000)
    python = Replayer(Engine(policy), sweep_every=5_000, memory=PythonMemory(Engine(policy)))
    said = run(native, replay_lines)
    assert said == run(python, replay_lines)
    assert native.stats == python.stats
    assert sum(native.stats.alerts.values()) > 500 and native.stats.dispositions
    assert native.stats.expired > 0
    assert held(native) == held(python)


def test_a_quiet_world_with_a_late_burst_sweeps_alike() -> None:
    """Sweeping every few events forgets subjects on both sides at the same lines."""
    replay_lines = lines(5, 6_000)
    policy = Policy(allowed_lateness=timedelta(minutes=5))
    native = Replayer(Engine(policy), sweep_every=100)
    python = Replayer(Engine(policy), sweep_every=100, memory=PythonMemory(Engine(policy)))
    assert run(native, replay_lines) == run(python, replay_lines)
    assert native.stats.expired == python.stats.expired > 0
    assert held(native) == held(python)
