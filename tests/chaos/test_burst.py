"""A burst at ten times the sustained rate: the worker neither crashes nor runs out of
memory, its lag drains afterwards, and the alerts are exactly replay's. The drain time
and peak memory are printed (docs/guarantees.md)."""

import time
from pathlib import Path

import pytest

from tests.chaos.conftest import (
    MAX_RSS_MIB,
    RATE,
    RssSampler,
    drain,
    finish,
    paced_stream,
)
from tests.integration.conftest import (
    assert_same_alerts,
    delete_topics,
    new_prefix,
    require_broker,
    start_worker,
    stop_worker,
)

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

BURST_S = 10


async def test_a_burst_of_ten_times_the_rate_drains(tmp_path: Path) -> None:
    require_broker()
    stream = paced_stream(tmp_path, int(RATE * 10 * BURST_S), seed=59, rate=RATE * 10)
    prefix = new_prefix()
    worker = start_worker(prefix, tmp_path / "data", tmp_path / "worker.log")
    memory = RssSampler(worker.process.pid)
    producer = stream.start(prefix)
    try:
        await finish(producer, stream)
        burst_ended = time.monotonic()
        found = await drain(prefix, worker.log_tail())
        drained_after = time.monotonic() - burst_ended
        assert worker.process.poll() is None, worker.log_tail()
    finally:
        memory.stop()
        producer.kill()
        stop_worker(worker)
        await delete_topics(prefix)
    print(
        f"burst of {stream.events} events at {RATE * 10:.0f}/s ({BURST_S} s): lag drained "
        f"{drained_after:.0f} s after it, worker RSS at most {memory.peak:.0f} MiB"
    )
    assert_same_alerts(found, stream.expected, repeats_allowed=False)
    assert memory.peak < MAX_RSS_MIB
