"""Pausing and resuming the fetching of partitions in aiokafka, for the ingest throttle.

Faust's `Consumer.pause_partitions` only takes partitions out of the set it asks aiokafka
for; its own recovery pauses and resumes that set, and its buffer-full bookkeeping puts
partitions back into it, so a throttle using it could resume a partition that recovery
holds, or be undone. aiokafka's `pause` is a flag on the partition's fetch state: it stops
fetching the partition, drops what it fetched and has not handed over (fetched again from
the same position on `resume`), and a rebalance makes every partition's state afresh,
unpaused. A pause creates a future on aiokafka's event loop, so it runs in the consumer's
own thread, as Faust's seeks and commits do.

- Patches: nothing; calls aiokafka's `pause` and `resume` through Faust's consumer thread,
  `Consumer._thread` (private).
- Upstream: none filed (Faust pauses fetching only through the set its recovery uses).
- Proof: `tests/integration/test_ingest_throttle.py` (a worker whose ingest is throttled
  at every batch publishes replay's alerts and cases, and counts its pauses).
- Remove when: duanka reads its input with its own consumer.
"""

from collections.abc import Iterable
from typing import Any

from aiokafka import TopicPartition
from faust.types import TP


async def fetching(consumer: Any, partitions: Iterable[TP], paused: bool) -> None:
    """Pause (or resume) fetching those of `partitions` still assigned."""
    thread = consumer._thread
    wanted = [TopicPartition(tp.topic, tp.partition) for tp in partitions]

    async def apply() -> None:
        client = thread._ensure_consumer()
        assigned = client.assignment()
        chosen = [tp for tp in wanted if tp in assigned]
        if paused:
            client.pause(*chosen)
        else:
            client.resume(*chosen)

    await thread.call_thread(apply)
