"""A simulated history through the real broker, written in order by independent producers
(librdkafka's partitioner: CRC32 of the key, not Kafka's murmur2): one producer for every
topic; one per topic, the watchlist's clock a quarter second ahead; or one kcat per topic
fed line by line from the one stream (each stamps what it writes a little apart from the
others). Read by one worker and by two, as a backlog loaded before they start and paced
while they run, the workers publish exactly the alerts in-order replay raises, by id and
content, and the cases replay links them into; and none for a person whose listing was
lifted before they came back. The history holds no dispositions: what one does comes
back to its subject through the case linker, seconds after it was read, and days pass in
seconds here (docs/limitations.md; `test_operations` writes dispositions). The input
topics stamp records as the broker appends them: the skewed producer's clock is overridden,
as any producer's is.
One worker publishes each alert once; two may publish one again, with the same id and
content, when the second one's start moves partitions the first had not committed yet
(at-least-once: docs/guarantees.md)."""

import asyncio
import shutil
import time
from pathlib import Path

import orjson
import pytest

from services.settings import Settings
from services.topics import ensure_topics
from tests.integration.conftest import (
    BOOTSTRAP,
    all_alerts,
    assert_no_lifted_listing_alerted,
    assert_same_alerts,
    assert_same_cases,
    delete_topics,
    drained,
    lifted_identities,
    new_prefix,
    published_cases,
    require_broker,
    start_worker,
    stop_worker,
    until_linked,
)
from tests.integration.world import LOADERS, PACED_RATE, backlog, replayed

pytestmark = pytest.mark.integration

DRAIN_WITHIN_S = 300


@pytest.mark.parametrize(
    ("producers", "live", "workers"),
    [
        pytest.param("one-producer", False, 1, id="backlog-one-worker"),
        pytest.param("skewed-producers", False, 1, id="skewed-backlog-one-worker"),
        pytest.param("kcat-per-topic", True, 1, id="kcat-paced-one-worker"),
        pytest.param("one-producer", False, 2, id="backlog-two-workers"),
        pytest.param("one-producer", True, 2, id="paced-two-workers"),
    ],
)
async def test_the_workers_publish_exactly_replays_alerts(
    tmp_path: Path, producers: str, live: bool, workers: int
) -> None:
    require_broker()
    if producers == "kcat-per-topic" and shutil.which("kcat") is None:
        pytest.skip("kcat is not installed (deploy/local/tools.sh installs it as root)")
    load_messages = LOADERS[producers]
    history = backlog()
    expected, expected_cases = replayed(history)
    assert len({a.rule for a in expected}) >= 8  # the world exercises nearly every rule
    prefix = new_prefix()
    await ensure_topics(Settings(broker=f"kafka://{BOOTSTRAP}", topic_prefix=prefix))
    if not live:
        await load_messages(prefix, history)
    running = []
    try:
        for n in range(workers):
            log = tmp_path / f"worker-{n}.log"
            running.append(await asyncio.to_thread(start_worker, prefix, tmp_path / f"{n}", log))
        if live:
            await load_messages(prefix, history, PACED_RATE)
        deadline = time.monotonic() + DRAIN_WITHIN_S
        while not await drained(prefix, f"{prefix}duanka"):
            assert time.monotonic() < deadline, running[0].log_tail()
            await asyncio.sleep(2)
        found = await all_alerts(f"{prefix}alerts")
        await until_linked(prefix, f"{prefix}duanka")
        cases = await published_cases(f"{prefix}cases")
    finally:
        for worker in running:
            stop_worker(worker)
        await delete_topics(prefix)
    assert_same_alerts(found, expected, repeats_allowed=workers > 1)
    assert_same_cases(cases, expected_cases)
    lines = b"\n".join(orjson.dumps(m.as_replay_line()) for m in history)
    assert_no_lifted_listing_alerted(found, lifted_identities(lines))
