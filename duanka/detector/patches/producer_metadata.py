"""The worker's producer: Faust's aiokafka producer, made to keep the metadata of every
topic it writes.

aiokafka's client fetches the metadata of all topics while the set of topics it tracks is
empty, and of only that set once it holds one. A send adds its topic to the set only when
the cached metadata lacks the topic. So the topics a worker writes first (subject events,
changelogs, alerts) are known from all-topics fetches and never added. Then a send to a
topic created a moment before (an institution's alert topic, declared on first use) adds
the first one, the next refresh fetches that topic alone, and every other topic drops out
of the metadata. Batches already queued for them have no leader any more and wait until
the request timeout: 20 minutes under Faust. Each offset commit flushes the producer
first, so commits wait with them, and the stuck-commit check reads the same messages again
and again.

Adding each topic to the set on its first send keeps them all known. The tables' changelog
topics are in the set from the start: the query API finds the worker holding a key from the
partitions of its table's changelog as the producer knows them, also on a worker that has
not written to that changelog yet but has already written elsewhere (progress reports).

- Patches: Faust's aiokafka `Producer` class (`app.transport.Producer`), and wraps
  `AIOKafkaClient._wait_on_metadata`, seeding `AIOKafkaClient._topics` (private).
- Upstream: none filed (aiokafka's client narrows its metadata to the topics it tracks
  once it tracks one).
- Proof: `tests/integration/test_producer_metadata.py` (a batch queued before a send to a
  new topic is delivered; with aiokafka alone it is stranded).
- Remove when: aiokafka tracks every topic it sends to; the second test then fails.
"""

from typing import Any

import faust
from aiokafka import AIOKafkaClient, AIOKafkaProducer
from faust.transport.drivers import aiokafka as aiokafka_driver


class Producer(aiokafka_driver.Producer):
    """Faust's aiokafka producer whose client tracks every topic written to."""

    def _new_producer(self, transactional_id: str | None = None) -> AIOKafkaProducer:
        producer = super()._new_producer(transactional_id)
        track_written_topics(producer.client)
        changelogs = {table.changelog_topic.get_topic_name() for table in self.app.tables.values()}
        producer.client._topics.update(changelogs)
        return producer


def track_written_topics(client: AIOKafkaClient) -> None:
    """Make every send through `client` add its topic to the topics whose metadata the
    client refreshes (a send waits on this lookup before queueing its message)."""
    wait_on_metadata = client._wait_on_metadata

    async def tracked(topic: str) -> Any:
        if topic not in client._topics:
            client.add_topic(topic)
        return await wait_on_metadata(topic)

    client._wait_on_metadata = tracked


def install(app: faust.App) -> None:
    """Have `app` create this producer; before anything has asked the app for one."""
    app.transport.Producer = Producer  # type: ignore[misc]
