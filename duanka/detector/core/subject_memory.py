"""Subject states held in memory between events, with the engine that applies events to them.

Replay holds every subject this way. `NativeMemory` keeps the states in the native core
(`duanka._native.Subjects`, one per kind), where events apply without becoming Python
objects at the subject; `PythonMemory` keeps them as Python objects under `Engine`, the
reference the native core is held to (`tests/unit/test_native_engine.py`,
`tests/unit/test_replay_native.py`). Both read as a mapping of (kind, id) to the subject's
state, decoded on demand from the native side.
"""

from abc import abstractmethod
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import NamedTuple

import orjson

from duanka._native import Subjects
from duanka.detector.core.clock import to_us
from duanka.detector.core.compact import compact
from duanka.detector.core.engine import STATE_TYPES, Engine
from duanka.detector.core.intake import Admitted
from duanka.detector.core.policy import Policy
from duanka.detector.core.routing import SUBJECT_KINDS, Address
from duanka.detector.core.state import SubjectState
from duanka.detector.core.watermark import TOPIC_OF
from duanka.schemas.alerts import Alert, SubjectKind
from duanka.schemas.events import WatchlistEntry

Slot = tuple[SubjectKind, str]
"""A subject: its kind and id."""


class Applied(NamedTuple):
    """What applying one event to one subject produced (`engine.Outcome` without the
    state, which stays in the memory)."""

    alerts: list[Alert]
    listings: list[WatchlistEntry]
    lifts: list[str]
    late: bool
    duplicate: bool


def native_apply(
    subjects: Subjects,
    id: str,
    stream: str,
    values: bytes,
    origin: str,
    offset: int | None,
    watermark: int | None,
    now_us: int,
) -> Applied:
    """Apply an event, in its compact form as JSON (`core.compact`), to the subject `id`
    the native `subjects` hold (`Subjects.apply`), what it raises made Python objects."""
    alerts, listings, lifts, duplicate, late = subjects.apply(
        id, stream, values, origin, offset, watermark, now_us
    )
    return Applied(
        [Alert.model_validate_json(alert) for alert in alerts],
        [WatchlistEntry.model_validate_json(entry) for entry in listings],
        lifts,
        late,
        duplicate,
    )


def expire_held(subjects: Subjects, id: str, watermark: int) -> bool:
    """Expire the subject `id` the native `subjects` hold against `watermark`
    (`Subjects.expire`); whether that changed it (or dropped it)."""
    before = subjects.state(id)
    if before is None:
        return False
    subjects.expire(id, watermark)
    return subjects.state(id) != before


class SubjectMemory(Mapping[Slot, SubjectState]):
    """Every subject's state, and the engine applying events to them."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    @abstractmethod
    def apply(
        self,
        address: Address,
        event: Admitted,
        now: datetime,
        *,
        origin: str,
        offset: int | None,
        watermark: int | None,
    ) -> Applied:
        """Apply `event` to the subject at `address` (`Engine.apply`)."""

    @abstractmethod
    def expire(self, kind: SubjectKind, id: str, watermark: int) -> bool:
        """Forget what no event still in time could count (`Engine.expire`); whether the
        subject is then forgotten altogether."""

    @abstractmethod
    def retention(self, kind: SubjectKind) -> int:
        """How far behind the watermark (ms) anything a subject of `kind` records is kept."""


class PythonMemory(SubjectMemory):
    """States as Python objects, under the Python engine: the reference."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine.policy)
        self.engine = engine
        self._states: dict[Slot, SubjectState] = {}

    def apply(
        self,
        address: Address,
        event: Admitted,
        now: datetime,
        *,
        origin: str,
        offset: int | None,
        watermark: int | None,
    ) -> Applied:
        slot = (address.kind, address.id)
        outcome = self.engine.apply(
            address,
            self._states.get(slot),
            event,
            now,
            origin=origin,
            offset=offset,
            watermark=watermark,
        )
        if outcome.state is None:
            self._states.pop(slot, None)
        else:
            self._states[slot] = outcome.state
        return Applied(
            outcome.alerts, outcome.listings, outcome.lifts, outcome.late, outcome.duplicate
        )

    def expire(self, kind: SubjectKind, id: str, watermark: int) -> bool:
        state = self._states.get((kind, id))
        if state is None:
            return False
        if self.engine.expire(kind, state, watermark) is None:
            del self._states[(kind, id)]
            return True
        return False

    def retention(self, kind: SubjectKind) -> int:
        return self.engine.retention(kind)

    def __getitem__(self, slot: Slot) -> SubjectState:
        return self._states[slot]

    def __iter__(self) -> Iterator[Slot]:
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)


class NativeMemory(SubjectMemory):
    """States in the native core: each event goes to it in the compact form a bundle
    carries, and comes back as wire JSON."""

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        numbers = policy.in_ms()
        self._subjects = {kind: Subjects(kind, numbers) for kind in SUBJECT_KINDS}
        self._last: tuple[Admitted | None, bytes] = (None, b"")
        """The last event applied and its compact form: an event goes to each subject it
        concerns in turn, encoded once."""

    def _compact(self, event: Admitted) -> bytes:
        last, values = self._last
        if last is not event:
            values = orjson.dumps(compact(TOPIC_OF[type(event)], event))
            self._last = (event, values)
        return values

    def apply(
        self,
        address: Address,
        event: Admitted,
        now: datetime,
        *,
        origin: str,
        offset: int | None,
        watermark: int | None,
    ) -> Applied:
        values = self._compact(event)
        now_us = to_us(now)
        return native_apply(
            self._subjects[address.kind],
            address.id,
            address.stream,
            values,
            origin,
            offset,
            watermark,
            now_us,
        )

    def expire(self, kind: SubjectKind, id: str, watermark: int) -> bool:
        return self._subjects[kind].expire(id, watermark)

    def retention(self, kind: SubjectKind) -> int:
        return self._subjects[kind].retention()

    def __getitem__(self, slot: Slot) -> SubjectState:
        kind, id = slot
        encoded = self._subjects[kind].state(id)
        if encoded is None:
            raise KeyError(slot)
        return STATE_TYPES[kind].from_json(orjson.loads(encoded))

    def __contains__(self, slot: object) -> bool:
        if not isinstance(slot, tuple) or len(slot) != 2 or slot[0] not in self._subjects:
            return False
        return slot[1] in self._subjects[slot[0]]

    def __iter__(self) -> Iterator[Slot]:
        for kind, subjects in self._subjects.items():
            for id in subjects.ids():
                yield kind, id

    def __len__(self) -> int:
        return sum(len(subjects) for subjects in self._subjects.values())
