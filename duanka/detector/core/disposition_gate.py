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
So the gate holds that partition's progress just short of it, for the partitions of the
kind of subject it can act on (a confirmation's accounts, an appeal's identities; one that
acts on none, `actioned`, is placed at once), and tells them which disposition it awaits.
Each answers, after publishing the alerts of what it
has applied, once it has applied everything that goes before that disposition (its
*frontier*). If the alert is linked first, it was raised before the disposition: taken, and
what it derives goes to its place. If every partition has answered first, no alert before
the disposition is missing: it is placed without its alert, and the progress moves on.
Either way the answer is the same whatever the timing.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from duanka.detector.core.ordering import OriginProgress
from duanka.schemas.alerts import SubjectKind


class Position(NamedTuple):
    """A disposition's place in a subject partition's order: when it was decided and
    written (epoch ms), and its offset in its partition."""

    at: int
    written: int
    offset: int


class Awaited(NamedTuple):
    """A disposition awaiting its alert: its place, and the kind of subject it can act on
    (a confirmation flags an account, an appeal lifts an identity's listing; None: it acts
    on none, and holds nothing back, but every partition answers for it, so that whether
    its alert came before it is known as surely)."""

    position: Position
    kind: SubjectKind | None


@dataclass(slots=True)
class DispositionGate:
    """Per `dispositions` partition (origin), the progress ingest reported and the
    dispositions awaiting their alerts, in the order they were read; per subject partition
    (lane), the frontiers it has reported. A disposition holds back, and is answered for
    by, only the partitions of the kind it can act on."""

    lanes: frozenset[tuple[SubjectKind, int]]
    """Every account and identity partition."""
    reported: dict[str, OriginProgress] = field(default_factory=dict)
    awaiting: dict[str, dict[str, Awaited]] = field(default_factory=dict)
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
        self,
        origin: str,
        token: str,
        position: Position,
        kind: SubjectKind | None,
        retaking: bool = False,
    ) -> None:
        """A disposition read at `position` of `origin`, which can act on subjects of
        `kind`, names an alert not linked yet (or, `retaking`, is to be taken again)."""
        self.awaiting.setdefault(origin, {}).setdefault(token, Awaited(position, kind))
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
        """Take the dispositions every lane of their kind has reached before their alerts
        were linked: (origin, token) in the order they were read. They do nothing to
        subjects."""
        placed = []
        kinds = {kind for kind, _ in self.lanes}
        for origin, awaiting in self.awaiting.items():
            reached = self.frontiers.get(origin, {})
            blocked: set[SubjectKind] = set()
            for token, (position, kind) in list(awaiting.items()):
                concerned = kinds if kind is None else {kind}
                lanes = [lane for lane in self.lanes if lane[0] in concerned]
                if (
                    concerned & blocked
                    or token in self.retaking
                    or any(reached.get(lane, _NOWHERE) < position for lane in lanes)
                ):
                    blocked |= concerned  # each kind's partitions answer in read order
                    continue
                del awaiting[token]
                placed.append((origin, token))
        return placed

    def relay(
        self, kind: SubjectKind
    ) -> tuple[dict[str, OriginProgress], dict[str, Position], dict[str, Position]]:
        """What to tell the partitions of `kind`: per origin, its progress, short of the
        first disposition awaited that can act on `kind`; the first disposition awaited
        they are to answer for; and where each origin is held (everything before that
        disposition has been relayed: an event of the same time written just before it
        goes first)."""
        origins, asked, holds = {}, {}, {}
        for origin in sorted(set(self.reported) | set(self.awaiting)):
            newest, written = self.reported.get(origin, OriginProgress(None, None))
            awaiting = self.awaiting.get(origin, {}).values()
            held = next((a.position for a in awaiting if a.kind == kind), None)
            if held is not None:  # read, and all before it: nothing older is to come
                newest, written = held.at, held.written
                holds[origin] = held
            ask = next((a.position for a in awaiting if a.kind in (kind, None)), None)
            if ask is not None:
                asked[origin] = ask
            origins[origin] = OriginProgress(newest, written)
        return origins, asked, holds

    def restore(self, awaiting: Iterable[tuple[str, str, Awaited, bool]]) -> None:
        """Await again the dispositions (origin, token, what it awaits, retaking) a
        previous holder of the linker awaited or took by a message read again, in the
        order they were read."""
        for origin, token, (position, kind), retaking in sorted(
            awaiting, key=lambda a: (a[0], a[2].position.offset)
        ):
            self.await_alert(origin, token, position, kind, retaking)


_NOWHERE = Position(-1, -1, -1)


def _latest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)
