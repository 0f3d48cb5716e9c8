"""`duanka topics` on the real broker: idempotent, prefixed, configured."""

import asyncio
import logging
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from duanka.settings import Settings
from duanka.topics import (
    MONTH,
    TopicSpec,
    catalogue,
    delete_topics,
    ensure_topic,
    ensure_topics,
)
from tests.integration.conftest import BOOTSTRAP

pytestmark = pytest.mark.integration


async def test_topics_are_created_once_with_the_configured_layout() -> None:
    settings = Settings(
        broker=f"kafka://{BOOTSTRAP}", topic_prefix=f"it-{uuid.uuid4().hex[:8]}.", partitions=3
    )
    wanted = [spec.name for spec in catalogue(settings)]
    assert all(name.startswith(settings.topic_prefix) for name in wanted)
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        assert sorted(await ensure_topics(settings)) == sorted(wanted)
        assert await ensure_topics(settings) == []  # idempotent
        described = await admin.describe_topics(wanted)
        assert {t["topic"]: len(t["partitions"]) for t in described} == {
            spec.name: 1 if spec.name.startswith(f"{settings.app_id}-case-alerts") else 3
            for spec in catalogue(settings)
        }
        [configs] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, settings.topic("watchlist"))]
        )
        values = {entry[0]: entry[1] for entry in configs.resources[0][4]}
        assert values["cleanup.policy"] == "compact"
    finally:
        await admin.delete_topics(wanted)
        await admin.close()


async def test_an_institution_topic_is_created_whole_once_and_found_afterwards() -> None:
    settings = Settings(
        broker=f"kafka://{BOOTSTRAP}", topic_prefix=f"it-{uuid.uuid4().hex[:8]}.", partitions=3
    )
    name = settings.topic("alerts.some-bank")
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await ensure_topic(settings, TopicSpec(name, MONTH))
        [described] = await admin.describe_topics([name])
        assert [p["leader"] >= 0 for p in described["partitions"]] == [True] * 3
        await ensure_topic(settings, TopicSpec(name, MONTH))  # exists: returns, unchanged
        [configs] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        values = {entry[0]: entry[1] for entry in configs.resources[0][4]}
        assert values["retention.ms"] == MONTH["retention.ms"]
    finally:
        await admin.delete_topics([name])
        await admin.close()


class RefusedSends(logging.Handler):
    """Counts aiokafka's warnings of produce requests a partition's leader refused."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.refused = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.refused += "NotLeaderForPartition" in record.getMessage()


async def test_a_created_topic_takes_writes_at_once() -> None:
    """Metadata names a leader before that broker has taken the partition over; duanka
    waits until it answers, so a first write is not refused and retried (which would hold
    back every other batch to that broker)."""
    settings = Settings(broker=f"kafka://{BOOTSTRAP}", topic_prefix=f"it-{uuid.uuid4().hex[:8]}.")
    refused = RefusedSends()
    logging.getLogger("aiokafka").addHandler(refused)
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
    await producer.start()
    try:
        for n in range(4):
            name = settings.topic(f"alerts.institution-{n}")
            await ensure_topic(settings, TopicSpec(name, MONTH))
            sends = [await producer.send(name, b"x", partition=p) for p in range(8)]
            await asyncio.gather(*sends)
    finally:
        await producer.stop()
        logging.getLogger("aiokafka").removeHandler(refused)
        await delete_topics(settings)
    assert refused.refused == 0
