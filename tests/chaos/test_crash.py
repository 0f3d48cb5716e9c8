"""A worker killed with SIGKILL in the middle of a paced stream, or losing its local state
while down, loses no alert: after a restart, the alerts on `alerts` are exactly those that
replay of the same stream raises, by `alert_id`; an alert appears twice only with the same
id and content (at-least-once; docs/guarantees.md); and no listing lifted in the stream
denies anyone service, also when the watchlist is read again after the restart.

The SIGKILL run is the fast subset `make test` keeps (3,000 events); `make chaos` runs it at
DUANKA_CHAOS_EVENTS (100,000) and adds the lost-disk run."""

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from tests.chaos.conftest import drain, finish, paced_stream
from tests.integration.conftest import (
    assert_no_lifted_listing_alerted,
    assert_same_alerts,
    delete_topics,
    new_prefix,
    require_broker,
    start_worker,
    stop_worker,
)

pytestmark = pytest.mark.integration

EVENTS = int(os.environ.get("DUANKA_CHAOS_EVENTS", "3000"))
LOST_DISK_EVENTS = min(EVENTS, 20_000)


@pytest.mark.parametrize(
    "lose_disk",
    [
        pytest.param(False, id="sigkill"),
        pytest.param(True, id="sigkill-and-lost-disk", marks=pytest.mark.chaos),
    ],
)
async def test_a_killed_worker_restarts_and_loses_no_alert(tmp_path: Path, lose_disk: bool) -> None:
    require_broker()
    stream = paced_stream(tmp_path, LOST_DISK_EVENTS if lose_disk else EVENTS)
    prefix = new_prefix()
    data = tmp_path / "data"
    worker = start_worker(prefix, data, tmp_path / "worker.log")
    producer = stream.start(prefix)
    try:
        await asyncio.sleep(stream.seconds * 0.4)
        worker.process.kill()  # SIGKILL: no shutdown, no final commit
        worker.process.wait()
        if lose_disk:
            shutil.rmtree(data)
        worker = start_worker(prefix, data, tmp_path / "restarted.log")
        await finish(producer, stream)
        found = await drain(prefix, worker.log_tail())
    finally:
        producer.kill()
        stop_worker(worker)
        await delete_topics(prefix)
    assert_same_alerts(found, stream.expected, repeats_allowed=True)
    assert_no_lifted_listing_alerted(found, stream.lifted)
