"""The broker is stopped for 30 s in the middle of a paced stream and started again: the
worker recovers by itself (it is never restarted) and the alerts are exactly replay's."""

import asyncio
import subprocess
import time
from pathlib import Path

import pytest

from tests.chaos.conftest import drain, finish, paced_stream
from tests.integration.conftest import (
    assert_same_alerts,
    delete_topics,
    new_prefix,
    require_broker,
    start_worker,
    stop_worker,
)

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

EVENTS = 15_000
OUTAGE_S = 30
KAFKA = Path(__file__).parents[2] / "deploy" / "local" / "kafka.sh"


def kafka(command: str) -> None:
    subprocess.run([str(KAFKA), command], check=True, capture_output=True)


def require_local_broker() -> None:
    require_broker()
    if subprocess.run([str(KAFKA), "status"], capture_output=True).returncode != 0:
        pytest.fail("the outage test stops and starts the broker of deploy/local/kafka.sh")


async def test_the_worker_rides_out_a_broker_outage(tmp_path: Path) -> None:
    require_local_broker()
    stream = paced_stream(tmp_path, EVENTS, seed=47)
    prefix = new_prefix()
    worker = start_worker(prefix, tmp_path / "data", tmp_path / "worker.log")
    producer = stream.start(prefix)
    try:
        await asyncio.sleep(stream.seconds * 0.4)
        stopped = time.monotonic()
        await asyncio.to_thread(kafka, "down")
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
        await asyncio.to_thread(kafka, "up")
        await finish(producer, stream)
        found = await drain(prefix, worker.log_tail())
        assert worker.process.poll() is None, f"the worker exited\n{worker.log_tail()}"
    finally:
        await asyncio.to_thread(kafka, "up")
        producer.kill()
        stop_worker(worker)
        await delete_topics(prefix)
    assert_same_alerts(found, stream.expected, repeats_allowed=True)
