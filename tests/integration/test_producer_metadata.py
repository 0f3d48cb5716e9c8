"""The worker's producer keeps the metadata of every topic it writes when it first writes
to a topic created a moment before. aiokafka alone then forgets the topics it knew only
from fetching all of them, and a batch queued for one of those waits for a leader until the
request timeout (each offset commit of the worker waits for it)."""

import asyncio
import time

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from duanka.detector.app import create_detector
from duanka.detector.patches.producer_metadata import Producer, track_written_topics
from duanka.settings import Settings
from tests.integration.conftest import BOOTSTRAP, delete_topics, new_prefix, require_broker

pytestmark = pytest.mark.integration

LINGER_MS = 1_000
REQUEST_TIMEOUT_MS = 15_000
LANDS_WITHIN_S = 8.0


async def queued_batch_lands(track: bool) -> bool:
    """Queue a message for a topic the producer knows from its first all-topics fetch, then
    send to a topic just created; whether the queued message is delivered in time."""
    require_broker()
    prefix = new_prefix()
    known, created = f"{prefix}known", f"{prefix}created"
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, linger_ms=LINGER_MS, request_timeout_ms=REQUEST_TIMEOUT_MS
    )
    try:
        await admin.create_topics([NewTopic(known, 1, 1)])
        await producer.start()
        if track:
            track_written_topics(producer.client)
        deadline = time.monotonic() + 10
        while producer.client.cluster.partitions_for_topic(known) is None:
            assert time.monotonic() < deadline, f"{known} never appeared in the metadata"
            await producer.client.force_metadata_update()
        delivery = await producer.send(known, b"queued")  # lingers in the accumulator
        await admin.create_topics([NewTopic(created, 1, 1)])
        await producer.send(created, b"first")
        done, _ = await asyncio.wait([delivery], timeout=LANDS_WITHIN_S)
        return bool(done)
    finally:
        await producer.stop()
        await admin.close()
        await delete_topics(prefix)


async def test_a_batch_queued_before_a_send_to_a_new_topic_is_delivered() -> None:
    assert await queued_batch_lands(track=True)


async def test_aiokafka_alone_still_strands_it() -> None:
    """What `duanka.detector.producer` works around. When this fails, aiokafka has fixed
    it and the workaround can go."""
    assert not await queued_batch_lands(track=False)


def test_the_worker_creates_the_tracking_producer() -> None:
    app = create_detector(Settings(broker=f"kafka://{BOOTSTRAP}")).app
    assert isinstance(app.producer, Producer)
