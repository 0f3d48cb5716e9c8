"""Subject states, read once and written once per batch of events, in a fixed order.

A subject agent applies the events `core.ordering` releases together (or one expiry
request) as one `Batch`: each subject's state is read once, every event of the batch is
applied to it in memory, and each changed subject is written once when the batch ends.
Its writes then go, in this order (`docs/guarantees.md` has the recovery):

1. the batch's alerts, watchlist entries and dead letters are queued for sending (`subjects`);
2. one changelog record per changed subject is queued on the table's changelog partition,
   all in one record batch (`SubjectStates.write`); until it is stored, a written state is
   read from here;
3. the batch's input messages are acknowledged, so Faust may commit past them;
4. Faust commits: it flushes the producer (every message queued so far is delivered), then
   commits the input offsets;
5. after each commit, the states whose changelog records were delivered are written to the
   table's store, one write batch per partition, with the changelog offset the store has
   reached (`SubjectStates.store_delivered`).

The states stay in Faust's tables: Faust still declares each changelog topic and restores
the store from it when a partition is assigned, on a fresh disk too. Only the writes bypass
the table's per-key path, which queued a message through Faust's producer buffer for every
assignment (`patches.table_batches`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import faust
import orjson

from duanka._native import Subjects
from duanka.detector.core.disposal import Raised
from duanka.detector.core.engine import STATE_TYPES
from duanka.detector.core.state import SubjectState
from duanka.detector.patches import table_batches
from duanka.schemas.alerts import SubjectKind

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Sent:
    """A batch's changelog records on their way: what they hold, and their delivery."""

    partition: int
    values: dict[bytes, bytes | None]
    deliveries: list[asyncio.Future[Any]]
    last: int
    """How many records the last delivery holds (its base offset plus this, less one, is
    the offset of the batch's last record)."""


class Batch:
    """One batch's subjects of one partition, in the kind's native subjects
    (`SubjectStates.subjects`): each read into them once, every event of the batch applied
    there, and each changed one written when the batch ends."""

    __slots__ = ("_changed", "_loaded", "_raised", "_states", "partition", "subjects")

    def __init__(self, states: SubjectStates, partition: int) -> None:
        self._states = states
        self.partition = partition
        self.subjects = states.subjects
        """The native subjects the batch applies events to: only its own."""
        self.subjects.clear()
        self._loaded: set[bytes] = set()
        self._changed: set[bytes] = set()
        self._raised: dict[bytes, Raised] = {}

    def load(self, key: bytes) -> bool:
        """Bring the subject's latest written state into `subjects`, once a batch; whether
        the subject has a state now."""
        id = key.decode()
        if key not in self._loaded:
            self._loaded.add(key)
            value = self._states.value(self.partition, key)
            if value is not None:
                self.subjects.load(id, value)
        return id in self.subjects

    def state(self, key: bytes) -> SubjectState | None:
        """The subject's state as the batch has left it so far, as a Python object."""
        self.load(key)
        value = self.subjects.state(key.decode())
        return None if value is None else self._states.decoded(value)

    def changed(self, key: bytes) -> None:
        """The subject's state is to be written at the end of the batch."""
        self._changed.add(key)

    def raised(self, alert_id: str) -> Raised | None:
        """An alert the partition raised, as kept (`core.disposal`); None if it raised none
        by that id that a disposition can act on."""
        key = raised_key(alert_id)
        if key in self._raised:
            return self._raised[key]
        return self._states.raised(self.partition, key)

    def keep_raised(self, alert_id: str, raised: Raised) -> None:
        """Keep an alert raised, written with the batch's states; the first place it was
        raised at stands (one raised again was read again)."""
        if self.raised(alert_id) is None:
            self._raised[raised_key(alert_id)] = raised

    def changes(self) -> dict[bytes, bytes | None]:
        """Each changed subject's state as the table stores it (None: delete the key), and
        each alert raised."""
        changes = {key: self.subjects.state(key.decode()) for key in self._changed}
        for key, raised in self._raised.items():
            changes[key] = orjson.dumps(raised.to_json())
        return changes


class SubjectStates:
    """The states of one subject kind held by this worker, over its Faust table."""

    def __init__(self, app: faust.App, kind: SubjectKind, table: Any, policy: bytes) -> None:
        self.app = app
        self.kind = kind
        self.table = table
        self.subjects = Subjects(kind, policy)
        """The native core's subjects of the kind (`policy` as `Policy.in_ms` writes it),
        holding one batch's subjects at a time (`Batch`)."""
        self.lock = asyncio.Lock()
        """Held from a batch's first read to its changelog records being queued, so that
        the records of one subject are queued in the order its events were applied."""
        self._unstored: dict[int, dict[bytes, bytes | None]] = {}
        self._sent: deque[_Sent] = deque()
        self._crashing: asyncio.Future[None] | None = None

    def batch(self, partition: int) -> Batch:
        """A new batch of the subjects of `partition`."""
        return Batch(self, partition)

    def get(self, partition: int, key: bytes) -> SubjectState | None:
        """A subject's latest written state: sent and not stored yet, else stored."""
        value = self.value(partition, key)
        return None if value is None else self.decoded(value)

    def decoded(self, value: bytes) -> SubjectState:
        """A state of the kind from the bytes the table stores."""
        return STATE_TYPES[self.kind].from_json(orjson.loads(value))

    def raised(self, partition: int, key: bytes) -> Raised | None:
        """An alert raised on `partition`, by its key (`raised_key`): sent and not stored
        yet, else stored."""
        value = self.value(partition, key)
        return None if value is None else Raised.from_json(orjson.loads(value))

    def value(self, partition: int, key: bytes) -> bytes | None:
        """The value last written under `key` on `partition`, as the table stores it: sent
        and not stored yet, else stored; None if there is none."""
        unstored = self._unstored.get(partition)
        if unstored is not None and key in unstored:
            return unstored[key]
        return table_batches.read_value(self.table, partition, key)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every subject held here and its latest written state, as the table stores it
        (not the alerts raised)."""
        unstored = {k: v for values in self._unstored.values() for k, v in values.items()}
        for key, value in unstored.items():
            if value is not None and not key.startswith(RAISED):
                yield key, value
        for key, stored in table_batches.values(self.table):
            if key not in unstored and not key.startswith(RAISED):
                yield key, stored

    async def write(self, batch: Batch) -> None:
        """Queue the batch's changed states on the changelog (step 2)."""
        values = batch.changes()
        if not values:
            return
        topic = self.table.changelog_topic.get_topic_name()
        deliveries, last = await table_batches.send_records(
            self.app, topic, batch.partition, values.items()
        )
        for delivery in deliveries:
            delivery.add_done_callback(self._delivered)
        self._unstored.setdefault(batch.partition, {}).update(values)
        self._sent.append(_Sent(batch.partition, values, deliveries, last))

    def store_delivered(self) -> None:
        """Write to the store, in the order they were sent, the states whose changelog
        records were delivered (step 5)."""
        stored: dict[int, tuple[dict[bytes, bytes | None], int]] = {}
        while self._sent and all(_succeeded(d) for d in self._sent[0].deliveries):
            sent = self._sent.popleft()
            values, _ = stored.get(sent.partition, ({}, 0))
            values.update(sent.values)
            offset = sent.deliveries[-1].result().offset + sent.last - 1
            stored[sent.partition] = values, offset
        for partition, (values, offset) in stored.items():
            table_batches.write(self.table, partition, values, offset)
            unstored = self._unstored[partition]
            for key, value in values.items():
                if key in unstored and unstored[key] == value:
                    del unstored[key]

    async def settle(self) -> None:
        """Wait until every changelog batch on its way is delivered, then store them all. A
        rebalance revokes every partition, and those assigned again are not restored from
        their changelogs: nothing of theirs may stay only in memory. Call with `lock`
        held, so that no batch is written meanwhile."""
        deliveries = [delivery for sent in self._sent for delivery in sent.deliveries]
        if deliveries:
            await asyncio.wait(deliveries)
        self.store_delivered()

    def forget(self, partition: int) -> None:
        """Drop what is still not stored of a partition given up (after `settle`: only what
        could not be delivered, whose input is read again)."""
        self._unstored.pop(partition, None)
        self._sent = deque(sent for sent in self._sent if sent.partition != partition)

    def _delivered(self, delivery: asyncio.Future[Any]) -> None:
        """A changelog batch that could not be delivered stops the worker: its input must
        not be committed, and the states it holds must not reach the store."""
        error = None if delivery.cancelled() else delivery.exception()
        if error is None:
            return
        log.critical("a %s changelog batch was not delivered: %r; stopping", self.kind, error)
        self._crashing = asyncio.ensure_future(self.app.crash(error))


RAISED = b"\x00raised/"
"""The prefix of the table keys of the alerts a partition raised (`core.disposal`), kept
with its subjects' states: no subject id holds a control character."""


def raised_key(alert_id: str) -> bytes:
    """The table key of an alert raised."""
    return RAISED + alert_id.encode()


def _succeeded(delivery: asyncio.Future[Any]) -> bool:
    return delivery.done() and not delivery.cancelled() and delivery.exception() is None


class StoreOnCommit(faust.Sensor):
    """After each offset commit, writes to the stores what was delivered (step 5)."""

    def __init__(self, states: list[SubjectStates]) -> None:
        super().__init__()
        self.states = states

    def on_commit_completed(self, consumer: Any, state: Any) -> None:
        for states in self.states:
            states.store_delivered()
