"""Table state read and written a batch at a time, beside Faust's own per-key path.

A Faust table writes each assignment to its store and queues one changelog message for it,
through Faust's producer buffer, at about 234 µs of worker CPU a write here: more than the
detection of the event itself. `state_store.SubjectStates` instead sends a batch's changelog
records as one record batch through aiokafka, and writes its store a batch at a time, on
the table's own changelog topic and store, so that Faust still creates the changelog and
recovers the store from it.

- Patches: nothing; reads Faust's aiokafka producer (`Producer._producer`, private) and a
  RocksDB table's database per partition (`Store._db_for_partition`) and its items
  (`Store._iteritems`, private).
- Upstream: none filed (Faust tables take one key at a time, from inside a stream's
  iteration).
- Proof: every worker test through the broker (`tests/integration/test_worker.py`; and
  `tests/chaos/test_crash.py`, where a worker restarts on state these functions wrote, and
  on a fresh disk restores it from the changelog records they sent).
- Remove when: Faust tables take a batch of writes, or duanka keeps its own store.
"""

import asyncio
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import faust
import orjson
import rocksdict
from aiokafka import AIOKafkaProducer
from faust.stores.rocksdb import Store as RocksDBStore
from faust.types import TP


def aiokafka_producer(app: faust.App) -> AIOKafkaProducer:
    """The aiokafka producer under the app's Faust producer (started with the app)."""
    producer: AIOKafkaProducer | None = app.producer._producer  # type: ignore[attr-defined]
    if producer is None:
        raise RuntimeError("the app's producer has not started")
    return producer


async def send_records(
    app: faust.App, topic: str, partition: int, records: Iterable[tuple[bytes, bytes | None]]
) -> tuple[list[asyncio.Future[Any]], int]:
    """Queue (key, value) records for one partition, in order, in as few record batches as
    the producer's batch size allows. Returns the batches' deliveries (each resolves to its
    base offset once delivered) and how many records the last one holds. A batch is closed
    before it is queued, so it does not linger for more."""
    producer = aiokafka_producer(app)
    deliveries: list[asyncio.Future[Any]] = []
    batch = producer.create_batch()
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=None) is None:
            deliveries.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a record of {len(value or b'')} bytes exceeds a batch")
    count = batch.record_count()
    if count:
        batch.close()
        deliveries.append(await producer.send_batch(batch, topic, partition=partition))
    return deliveries, count


def read_value(table: Any, partition: int, key: bytes) -> bytes | None:
    """The stored value of `key`, the JSON the table's serializer writes, on the store's
    database of `partition`; None if there is none. (A RocksDB store holds the JSON; a
    memory store, what it decodes to, encoded again here.)"""
    store = table.data
    if isinstance(store, RocksDBStore):
        value: bytes | None = store._db_for_partition(partition).get(key)
        return value
    held = store.data.get(key)
    return None if held is None else orjson.dumps(held)


def values(table: Any) -> Iterator[tuple[bytes, bytes]]:
    """Every key of the partitions the store holds actively here, with its stored value
    (`read_value`): without Faust's per-item decoding through its codec registry, which
    cost more than the rest of an expiry sweep."""
    store = table.data
    if isinstance(store, RocksDBStore):
        yield from store._iteritems()
    else:
        for key, held in store.data.items():
            yield key, orjson.dumps(held)


def write(table: Any, partition: int, values: Mapping[bytes, bytes | None], offset: int) -> None:
    """Write JSON values (None: delete) to the store's database of `partition` in one
    batch, and record `offset` as the last changelog offset the store holds."""
    store = table.data
    if isinstance(store, RocksDBStore):
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value in values.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        store._db_for_partition(partition).write(batch)
    else:
        for key, value in values.items():
            if value is None:
                store.data.pop(key, None)
                store._key_partition.pop(key, None)
            else:
                store.data[key] = orjson.loads(value)
                store._key_partition[key] = partition
    store.set_persisted_offset(TP(table.changelog_topic.get_topic_name(), partition), offset)
