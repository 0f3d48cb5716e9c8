"""The in-memory table store (`DUANKA_STORE=memory://`) detects like RocksDB does."""

from collections.abc import Iterator

import pytest

from tests.integration.conftest import (
    Kafka,
    RunningWorker,
    module_worker,
)
from tests.integration.test_worker import burst, expected_alerts, of, produce

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def memory_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorker]:
    yield from module_worker(tmp_path_factory, "memory-worker", DUANKA_STORE="memory://")


async def test_bulk_opener_with_memory_store(kafka: Kafka, memory_worker: RunningWorker) -> None:
    events = burst("memory-1", 5)
    await produce(kafka, memory_worker, events)
    alerts = await kafka.alerts(memory_worker, lambda a: len(of("memory-1", a)) >= 1)
    assert of("memory-1", alerts) == expected_alerts(events)
