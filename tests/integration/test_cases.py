"""The worker's case linker through the real broker: the cases on `cases` are replay's,
and a worker restarted on a fresh disk restores the linker from its changelog."""

import asyncio
from pathlib import Path

import pytest

from duanka.settings import Settings
from duanka.simulator.scenario import SimulatedMessage
from duanka.topics import ensure_topics
from tests.integration.conftest import (
    BOOTSTRAP,
    assert_same_cases,
    delete_topics,
    drained,
    new_prefix,
    published_cases,
    require_broker,
    start_worker,
    stop_worker,
    until_linked,
)
from tests.integration.world import backlog, load, replayed

pytestmark = pytest.mark.integration
DRAIN_WITHIN_S = 300


async def drain(prefix: str, tmp_path: Path, name: str) -> None:
    """Run a worker on a fresh data directory until it has linked everything, then stop."""
    log = tmp_path / f"{name}.log"
    worker = await asyncio.to_thread(start_worker, prefix, tmp_path / name, log)
    try:
        deadline = asyncio.get_running_loop().time() + DRAIN_WITHIN_S
        while not await drained(prefix, f"{prefix}duanka"):
            assert asyncio.get_running_loop().time() < deadline, worker.log_tail()
            await asyncio.sleep(2)
        await until_linked(prefix, f"{prefix}duanka")
    finally:
        stop_worker(worker)


async def test_the_worker_links_replays_cases_and_a_fresh_disk_restores_them(
    tmp_path: Path,
) -> None:
    require_broker()
    history: list[SimulatedMessage] = backlog()
    expected = replayed(history).cases
    assert len(expected) >= 10 and any(len(case.alerts) >= 5 for case in expected.values())
    half = len(history) // 2
    prefix = new_prefix()
    await ensure_topics(Settings(broker=f"kafka://{BOOTSTRAP}", topic_prefix=prefix))
    try:
        await load(prefix, history[:half])
        await drain(prefix, tmp_path, "first")
        partly = await published_cases(f"{prefix}cases")
        assert partly and partly.keys() != expected.keys()
        await load(prefix, history[half:])
        await drain(prefix, tmp_path, "second")  # another data directory: nothing on disk
        found = await published_cases(f"{prefix}cases")
    finally:
        await delete_topics(prefix)
    assert_same_cases(found, expected)
