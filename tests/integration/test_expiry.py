"""A subject that went quiet is deleted from the worker's table, changelog included, once
its partition has moved past its window and the allowed lateness."""

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner

from tests.factories import activation, identity
from tests.integration.conftest import (
    Kafka,
    RunningWorker,
    delete_topics,
    require_broker,
    start_worker,
    stop_worker,
)
from tests.integration.test_worker import produce

pytestmark = pytest.mark.integration

PARTITIONS = 8
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def sweeping_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorker]:
    require_broker()
    prefix = f"it-{uuid.uuid4().hex[:8]}."
    directory: Path = tmp_path_factory.mktemp("sweeping-worker")
    running = start_worker(
        prefix,
        directory / "data",
        directory / "worker.log",
        DUANKA_EXPIRY_INTERVAL="PT1S",
        DUANKA_PARTITIONS=str(PARTITIONS),
    )
    yield running
    stop_worker(running)
    asyncio.run(delete_topics(prefix))


def partition_of(key: str) -> int:
    """The partition the worker's producer gives `key` on a subject topic."""
    every = list(range(PARTITIONS))
    return int(DefaultPartitioner()(key.encode(), every, every))


def neighbour_of(who: str) -> str:
    """Another person whose identity lands on the same partition as `who`'s."""
    target = partition_of(identity(who))
    return next(
        name
        for name in (f"{who}-neighbour-{i}" for i in itertools.count())
        if partition_of(identity(name)) == target
    )


async def test_a_quiet_identity_is_deleted_when_its_partition_moves_on(
    kafka: Kafka, sweeping_worker: RunningWorker
) -> None:
    quiet, active = "quiet-1", neighbour_of("quiet-1")
    month_ago = NOW - timedelta(days=30)
    await produce(
        kafka,
        sweeping_worker,
        [activation(quiet, month_ago + timedelta(hours=i), n=i) for i in range(2)],
    )
    await produce(kafka, sweeping_worker, [activation(active, NOW - timedelta(days=1))])
    changelog = sweeping_worker.topic("duanka-identities-changelog")

    def deleted(who: str, records: list[tuple[bytes | None, bytes | None]]) -> bool:
        return (identity(who).encode(), None) in records

    records = await kafka.read_records_until(changelog, lambda rs: deleted(quiet, rs))
    assert deleted(quiet, records), sweeping_worker.log_tail()
    written = [key for key, value in records if value is not None]
    assert identity(quiet).encode() in written
    assert not deleted(active, records)
