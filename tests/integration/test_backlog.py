"""A simulated history through the real broker, written in order by independent producers
(librdkafka's partitioner: CRC32 of the key, not Kafka's murmur2): one producer for every
topic; one per topic, the watchlist's clock a quarter second ahead; or one kcat per topic
fed line by line from the one stream (each stamps what it writes a little apart from the
others). Read by one worker and by two, as a backlog loaded before they start and paced
while they run, the workers publish exactly the alerts in-order replay raises, by id and
content, and the cases replay links them into; and none for a person whose listing was
lifted before they came back, whose appeals (dispositions, read through the case linker)
are placed among their events as replay places them. The input topics stamp records as
the broker appends them: the skewed producer's clock is overridden, as any producer's is.
One worker publishes each alert once; two may publish one again, with the same id and
content, when the second one's start moves partitions the first had not committed yet
(at-least-once: docs/guarantees.md)."""

import shutil
from pathlib import Path

import pytest

from tests.integration.conftest import require_broker
from tests.integration.world import LOADERS, assert_replays, backlog, publish, replayed

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("producers", "paced", "workers"),
    [
        pytest.param("one-producer", False, 1, id="backlog-one-worker"),
        pytest.param("skewed-producers", False, 1, id="skewed-backlog-one-worker"),
        pytest.param("kcat-per-topic", True, 1, id="kcat-paced-one-worker"),
        pytest.param("one-producer", False, 2, id="backlog-two-workers"),
        pytest.param("one-producer", True, 2, id="paced-two-workers"),
    ],
)
async def test_the_workers_publish_exactly_replays_alerts(
    tmp_path: Path, producers: str, paced: bool, workers: int
) -> None:
    require_broker()
    if producers == "kcat-per-topic" and shutil.which("kcat") is None:
        pytest.skip("kcat is not installed (deploy/local/tools.sh installs it as root)")
    history = backlog()
    assert len({a.rule for a in replayed(history).alerts}) >= 8  # nearly every rule
    found = await publish(tmp_path, history, LOADERS[producers], paced, workers)
    assert_replays(found, history)
