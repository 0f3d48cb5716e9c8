"""Deterministic simulation: for every seed, the worker's alerts are replay's by id and
content, whatever the delays, pauses, crashes and rebalances the seed makes; and a seed
always makes the same run. `make soak-sim` runs many more seeds (`python -m tests.dst`)."""

import os

import pytest

from tests.dst.simulation import simulate

SEEDS = int(os.environ.get("DUANKA_DST_SEEDS", "1000"))


def test_every_seed_raises_replays_alerts() -> None:
    failed = [str(v) for v in map(simulate, range(SEEDS)) if not v.passed]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("seed", [3, 241, 255])
def test_a_seed_makes_the_same_run_every_time(seed: int) -> None:
    assert simulate(seed) == simulate(seed)
