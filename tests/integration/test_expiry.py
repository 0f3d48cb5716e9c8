"""A subject that went quiet is deleted from the worker's table, changelog included, once
the watermark of its partition has moved past its window and the allowed lateness."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from duanka.schemas.codec import encode
from tests.factories import account_open, activation, identity
from tests.integration.conftest import (
    Kafka,
    RunningWorker,
    module_worker,
)
from tests.integration.test_worker import produce

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def sweeping_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorker]:
    """One partition per topic: a watermark is known once every input partition has
    delivered to the subject's partition, and here one identity's events suffice for that."""
    yield from module_worker(
        tmp_path_factory, "sweeping-worker", DUANKA_EXPIRY_INTERVAL="PT1S", DUANKA_PARTITIONS="1"
    )


async def test_a_quiet_identity_is_deleted_when_its_topics_move_on(
    kafka: Kafka, sweeping_worker: RunningWorker
) -> None:
    quiet, active = "quiet-1", "active-1"
    month_ago = NOW - timedelta(days=30)
    await produce(
        kafka,
        sweeping_worker,
        [activation(quiet, month_ago + timedelta(hours=i), n=i) for i in range(2)],
    )
    await produce(kafka, sweeping_worker, [activation(active, NOW - timedelta(days=1))])
    opening = account_open(active, NOW - timedelta(days=1))
    await kafka.send(sweeping_worker.topic("account-opens"), encode(opening), key=opening.account)
    changelog = sweeping_worker.topic("duanka-identities-changelog")

    def deleted(who: str, records: list[tuple[bytes | None, bytes | None]]) -> bool:
        return (identity(who).encode(), None) in records

    records = await kafka.read_records_until(changelog, lambda rs: deleted(quiet, rs))
    assert deleted(quiet, records), sweeping_worker.log_tail()
    written = [key for key, value in records if value is not None]
    assert identity(quiet).encode() in written
    assert not deleted(active, records)
