"""Ingest throttled at nearly every batch: a worker whose input stops being fetched as soon
as one message waits unread on a partition of its own topics, and goes on once none does,
publishes exactly the alerts and cases in-order replay makes of a backlog with appeals
(dispositions, read through the case linker), and counts its pauses."""

import asyncio
from pathlib import Path

import pytest

from tests.integration.conftest import require_broker
from tests.integration.test_operations import get, sample
from tests.integration.world import Group, assert_replays, backlog, load, publish

pytestmark = pytest.mark.integration


async def test_a_throttled_worker_publishes_exactly_replays_alerts(tmp_path: Path) -> None:
    require_broker()
    pauses: list[float] = [0.0]

    async def count_pauses(group: Group) -> None:
        while True:
            _, body = await asyncio.to_thread(get, group.running[0], "/metrics")
            pauses[0] = max(pauses[0], sample(body, "duanka_input_pauses_total"))
            await asyncio.sleep(0.5)

    history = backlog()
    found = await publish(
        tmp_path, history, load, False, 1, count_pauses, env={"DUANKA_INGEST_LEAD": "1"}
    )
    assert_replays(found, history)
    assert pauses[0] >= 3, pauses
