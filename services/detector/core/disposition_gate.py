"""Where what a disposition does goes in its subject's order, decided by the case linker.

Replay takes a disposition at its line: if its alert was raised before it, what it derives
(a confirmation flagging an account, an appeal lifting a listing) is applied there, among
the subject's events; if not, it is held for its alert, sets the case's status when the
alert comes, and does nothing to subjects: it was written before the alert it names was
raised. A subject partition puts what the linker derives in order by when the disposition
was decided, written and read, like an event of its `dispositions` partition
(`ordering`); what it needs is the linker's word on how far each `dispositions` partition
has come.

The linker reads dispositions in their partitions' order, with ingest's progress reports
of those partitions between them, and relays that progress to every account and identity
partition. A disposition whose alert it has linked is taken at once, and what it derives is
sent before the progress past it. One whose alert it has not linked may still have an
alert on its way: raised before it, by a subject partition that has not published it yet.
So the gate holds that partition's progress just short of it, and tells every subject
partition which disposition it awaits. Each answers, after publishing the alerts of what it
has applied, once it has applied everything that goes before that disposition (its
*frontier*). If the alert is linked first, it was raised before the disposition: taken, and
what it derives goes to its place. If every partition has answered first, no alert before
the disposition is missing: it is placed without its alert, and the progress moves on.
Either way the answer is the same whatever the timing.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from schemas.alerts import SubjectKind
from services.detector.core.ordering import OriginProgress


class Position(NamedTuple):
    """A disposition's place in a subject partition's order: when it was decided and
    written (epoch ms), and its offset in its partition."""

    at: int
    written: int
    offset: int


@dataclass(slots=True)
class DispositionGate:
    """Per `dispositions` partition (origin), the progress ingest reported and the
    dispositions awaiting their alerts, in the order they were read; per subject partition
    (lane), the frontiers it has reported."""

    lanes: frozenset[tuple[SubjectKind, int]]
    """Every account and identity partition: each must answer for a disposition awaited."""
    reported: dict[str, OriginProgress] = field(default_factory=dict)
    awaiting: dict[str, dict[str, Position]] = field(default_factory=dict)
    """Per origin, by token (the disposition's alert and institution), in read order."""
    retaking: set[str] = field(default_factory=set)
    """The tokens awaited that are never placed without their alerts: taken before, by a
    message the linker reads again, which takes them again."""
    frontiers: dict[str, dict[tuple[SubjectKind, int], Position]] = field(default_factory=dict)
    """Per origin, the furthest position each lane has answered it reached."""

    def report(self, origins: Mapping[str, OriginProgress]) -> None:
        """Take ingest's report of how far it has read `dispositions` partitions."""
        for origin, progress in origins.items():
            known = self.reported.get(origin, OriginProgress(None, None))
            self.reported[origin] = OriginProgress(
                _latest(known.newest, progress.newest), _latest(known.written, progress.written)
            )

    def read(self, origin: str, position: Position) -> None:
        """A disposition was read at `position` of `origin`: everything before it in its
        partition has been too."""
        self.report({origin: OriginProgress(position.at, position.written)})

    def await_alert(
        self, origin: str, token: str, position: Position, retaking: bool = False
    ) -> None:
        """A disposition read at `position` of `origin` names an alert not linked yet (or,
        `retaking`, is to be taken again)."""
        self.awaiting.setdefault(origin, {}).setdefault(token, position)
        if retaking:
            self.retaking.add(token)

    def taken(self, origin: str, token: str) -> bool:
        """The alert of a disposition was linked: whether it was awaited (so what it
        derives goes to its place now), rather than placed without its alert."""
        self.retaking.discard(token)
        return self.awaiting.get(origin, {}).pop(token, None) is not None

    def frontier(self, lane: tuple[SubjectKind, int], origin: str, position: Position) -> None:
        """`lane` has applied everything that goes before `position` of `origin`, and
        published its alerts."""
        lanes = self.frontiers.setdefault(origin, {})
        if lane not in lanes or lanes[lane] < position:
            lanes[lane] = position

    def placed(self) -> list[tuple[str, str]]:
        """Take the dispositions every lane has reached before their alerts were linked:
        (origin, token) in the order they were read. They do nothing to subjects."""
        placed = []
        for origin, awaiting in self.awaiting.items():
            lanes = self.frontiers.get(origin, {})
            while awaiting:
                token, position = next(iter(awaiting.items()))
                if token in self.retaking or any(
                    lanes.get(lane, _NOWHERE) < position for lane in self.lanes
                ):
                    break
                del awaiting[token]
                placed.append((origin, token))
        return placed

    def relay(self) -> tuple[dict[str, OriginProgress], dict[str, Position]]:
        """What to tell the subject partitions: per origin, its progress, short of the
        first disposition awaited; and that disposition's position."""
        origins, awaited = {}, {}
        for origin in sorted(set(self.reported) | set(self.awaiting)):
            newest, written = self.reported.get(origin, OriginProgress(None, None))
            first = next(iter(self.awaiting.get(origin, {}).values()), None)
            if first is not None:  # read, and all before it: nothing older is to come
                awaited[origin] = first
                newest, written = first.at, first.written
            origins[origin] = OriginProgress(newest, written)
        return origins, awaited

    def restore(self, awaiting: Iterable[tuple[str, str, Position, bool]]) -> None:
        """Await again the dispositions (origin, token, position, retaking) a previous
        holder of the linker awaited or took by a message read again, in the order they
        were read."""
        for origin, token, position, retaking in sorted(
            awaiting, key=lambda a: (a[0], a[2].offset)
        ):
            self.await_alert(origin, token, position, retaking)


_NOWHERE = Position(-1, -1, -1)


def _latest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)
