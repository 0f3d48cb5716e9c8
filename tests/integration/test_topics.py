"""`duanka topics` on the real broker: idempotent, prefixed, configured."""

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from services.settings import Settings
from services.topics import MONTH, TopicSpec, catalogue, ensure_topic, ensure_topics
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
