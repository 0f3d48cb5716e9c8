"""The in-memory table store (`DUANKA_STORE=memory://`) detects like RocksDB does."""

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import (
    Kafka,
    RunningWorker,
    delete_topics,
    require_broker,
    start_worker,
    stop_worker,
)
from tests.integration.test_worker import burst, expected_alerts, of, produce

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def memory_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorker]:
    require_broker()
    prefix = f"it-{uuid.uuid4().hex[:8]}."
    directory: Path = tmp_path_factory.mktemp("memory-worker")
    running = start_worker(
        prefix, directory / "data", directory / "worker.log", DUANKA_STORE="memory://"
    )
    yield running
    stop_worker(running)
    asyncio.run(delete_topics(prefix))


async def test_bulk_opener_with_memory_store(kafka: Kafka, memory_worker: RunningWorker) -> None:
    events = burst("memory-1", 5)
    await produce(kafka, memory_worker, events)
    alerts = await kafka.alerts(memory_worker, lambda a: len(of("memory-1", a)) >= 1)
    assert of("memory-1", alerts) == expected_alerts(events)
