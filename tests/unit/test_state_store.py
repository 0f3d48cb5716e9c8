"""Subject states per batch: each subject read once, written once, readable from the moment
its changelog records are queued, and stored only once they are delivered, in the order
they were sent."""

import asyncio
from collections.abc import Iterable
from typing import Any, NamedTuple

import orjson
import pytest

from duanka.detector.app import create_detector
from duanka.detector.core.state import IdentityState, Listing
from duanka.detector.patches import table_batches
from duanka.detector.state_store import Batch, SubjectStates
from duanka.settings import Settings


class Delivered(NamedTuple):
    offset: int


class Changelog:
    """Stands in for the producer: keeps what is sent and lets a test deliver it."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, list[tuple[bytes, bytes | None]]]] = []
        self.deliveries: list[asyncio.Future[Any]] = []
        self.end = 0

    async def send(
        self, app: Any, topic: str, partition: int, records: Iterable[tuple[bytes, bytes | None]]
    ) -> tuple[list[asyncio.Future[Any]], int]:
        batch = list(records)
        self.sent.append((partition, batch))
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.deliveries.append(delivery)
        return [delivery], len(batch)

    def deliver(self, index: int) -> None:
        self.deliveries[index].set_result(Delivered(self.end))
        self.end += len(self.sent[index][1])


@pytest.fixture
def changelog(monkeypatch: pytest.MonkeyPatch) -> Changelog:
    fake = Changelog()
    monkeypatch.setattr(table_batches, "send_records", fake.send)
    return fake


@pytest.fixture
def states() -> SubjectStates:
    return create_detector(Settings(store="memory://")).states["identity"]


def listed(source: str) -> IdentityState:
    return IdentityState(listing=Listing(1, None, source, "test"))


async def write(states: SubjectStates, partition: int, **subjects: IdentityState | None) -> None:
    batch = states.batch(partition)
    for key, state in subjects.items():
        keep(batch, key, state)
    await states.write(batch)


def keep(batch: Batch, key: str, state: IdentityState | None) -> None:
    """Leave `state` to the subject `key` in the batch (None: none), as applying an event
    would."""
    if state is not None:
        batch.load(key.encode())
        batch.subjects.load(key, orjson.dumps(state.to_json()))
    batch.changed(key.encode())  # not loaded, a subject has no state in the batch


def stored(states: SubjectStates, partition: int, key: str) -> Any:
    value = table_batches.read_value(states.table, partition, key.encode())
    return None if value is None else orjson.loads(value)


async def test_a_state_is_read_back_at_once_and_stored_once_delivered(
    states: SubjectStates, changelog: Changelog
) -> None:
    await write(states, 3, a=listed("x"))
    got = states.get(3, b"a")
    assert got is not None and got.to_json() == listed("x").to_json()
    states.store_delivered()
    assert stored(states, 3, "a") is None
    changelog.deliver(0)
    states.store_delivered()
    assert stored(states, 3, "a") == listed("x").to_json()


async def test_batches_are_stored_in_the_order_they_were_sent(
    states: SubjectStates, changelog: Changelog
) -> None:
    await write(states, 1, a=listed("old"))
    await write(states, 1, a=listed("new"))
    changelog.deliver(1)
    states.store_delivered()
    assert stored(states, 1, "a") is None
    changelog.deliver(0)
    states.store_delivered()
    assert stored(states, 1, "a") == listed("new").to_json()
    assert states.get(1, b"a").to_json() == listed("new").to_json()  # type: ignore[union-attr]


async def test_a_newer_unstored_state_outlives_an_older_one_being_stored(
    states: SubjectStates, changelog: Changelog
) -> None:
    await write(states, 1, a=listed("old"))
    changelog.deliver(0)
    await write(states, 1, a=listed("new"))
    states.store_delivered()
    assert stored(states, 1, "a") == listed("old").to_json()
    assert states.get(1, b"a").to_json() == listed("new").to_json()  # type: ignore[union-attr]


async def test_a_deleted_state_reads_as_none_and_leaves_the_store(
    states: SubjectStates, changelog: Changelog
) -> None:
    await write(states, 2, a=listed("x"))
    changelog.deliver(0)
    states.store_delivered()
    await write(states, 2, a=None)
    assert states.get(2, b"a") is None
    assert changelog.sent[1] == (2, [(b"a", None)])
    changelog.deliver(1)
    states.store_delivered()
    assert stored(states, 2, "a") is None


async def test_a_batch_reads_each_subject_once_and_writes_only_what_changed(
    states: SubjectStates, changelog: Changelog, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[bytes] = []
    read = table_batches.read_value

    def counted(table: Any, partition: int, key: bytes) -> bytes | None:
        reads.append(key)
        return read(table, partition, key)

    monkeypatch.setattr(table_batches, "read_value", counted)
    batch = states.batch(0)
    for _ in range(3):
        state = batch.state(b"a") or IdentityState()
        state.lifted.append(Listing(1, 2, "x", "test"))
        keep(batch, "a", state)
        batch.load(b"b")
    await states.write(batch)
    assert reads == [b"a", b"b"]
    [(partition, records)] = changelog.sent
    assert partition == 0 and [key for key, _ in records] == [b"a"]


async def test_a_partition_given_up_forgets_what_it_did_not_store(
    states: SubjectStates, changelog: Changelog
) -> None:
    await write(states, 4, a=listed("x"))
    await write(states, 5, b=listed("y"))
    states.forget(4)
    assert states.get(4, b"a") is None
    changelog.deliver(0)
    changelog.deliver(1)
    states.store_delivered()
    assert stored(states, 4, "a") is None
    assert stored(states, 5, "b") == listed("y").to_json()
