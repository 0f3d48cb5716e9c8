"""When a disposition whose alert is not linked may be given up on, decided by the case
linker without holding anything back.

Replay takes a disposition at its line: if its alert was raised before it, what it derives
(a confirmation flagging an account, an appeal lifting a listing) is applied there, among
the subject's events; if not, it is held for its alert, sets the case's status when the
alert comes, and does nothing to subjects. The worker's linker offers each disposition to
every partition of the kind of subject it can act on, at its place in their order, and the
partition that raised the alert before that place applies what it derives
(`core.disposal`); the linker relays ingest's progress of the `dispositions` partitions to
those partitions after the offers, so that none passes a disposition before it has it.

What the linker still needs to know is when a disposition it holds is *placed*: every
partition of its kind has applied everything before it (its *frontier*), so no alert raised
before it can still be on its way. Only then may it be dead-lettered when the alerts linked
reach the policy's grace past it (`cases.CaseLinker.place`); before, its alert may be one
raised before it and not yet linked. The gate asks the partitions of each kind about the
first disposition awaited in each `dispositions` partition; one that acts on no subject
(`actioned`) is answered for by every partition, so that whether its alert came before it is
known as surely. If the alert is linked first, the disposition is taken and no longer
awaited. Either way the answer is the same whatever the timing.
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
    on none, and every partition answers for it)."""

    position: Position
    kind: SubjectKind | None


@dataclass(slots=True)
class DispositionGate:
    """Per `dispositions` partition (origin), the progress ingest reported, the last
    disposition read and those awaiting their alerts, in the order they were read; per
    subject partition (lane), the frontiers it has reported. A disposition is answered for
    by the partitions of the kind it can act on."""

    lanes: frozenset[tuple[SubjectKind, int]]
    """Every account and identity partition."""
    reported: dict[str, OriginProgress] = field(default_factory=dict)
    awaiting: dict[str, dict[str, Awaited]] = field(default_factory=dict)
    """Per origin, by token (the disposition's alert and institution), in read order."""
    frontiers: dict[str, dict[tuple[SubjectKind, int], Position]] = field(default_factory=dict)
    """Per origin, the furthest position each lane has answered it reached."""
    last_read: dict[str, Position] = field(default_factory=dict)
    """Per origin, the last disposition read: everything before it has been offered."""

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
        self.last_read[origin] = position

    def await_alert(
        self, origin: str, token: str, position: Position, kind: SubjectKind | None
    ) -> None:
        """A disposition read at `position` of `origin`, which can act on subjects of
        `kind`, names an alert not linked yet."""
        self.awaiting.setdefault(origin, {}).setdefault(token, Awaited(position, kind))

    def taken(self, origin: str, token: str) -> None:
        """The alert of a disposition was linked (or it was given up): no longer awaited."""
        self.awaiting.get(origin, {}).pop(token, None)

    def frontier(self, lane: tuple[SubjectKind, int], origin: str, position: Position) -> None:
        """`lane` has applied everything that goes before `position` of `origin`, and
        published its alerts."""
        lanes = self.frontiers.setdefault(origin, {})
        if lane not in lanes or lanes[lane] < position:
            lanes[lane] = position

    def placed(self) -> list[tuple[str, str]]:
        """Take the dispositions every lane of their kind has reached before their alerts
        were linked: (origin, token) in the order they were read. They did nothing to
        subjects, and may be given up on from now on."""
        placed = []
        kinds = {kind for kind, _ in self.lanes}
        for origin, awaiting in self.awaiting.items():
            reached = self.frontiers.get(origin, {})
            blocked: set[SubjectKind] = set()
            for token, (position, kind) in list(awaiting.items()):
                concerned = kinds if kind is None else {kind}
                lanes = [lane for lane in self.lanes if lane[0] in concerned]
                if concerned & blocked or any(
                    reached.get(lane, _NOWHERE) < position for lane in lanes
                ):
                    blocked |= concerned  # each kind's partitions answer in read order
                    continue
                del awaiting[token]
                placed.append((origin, token))
        return placed

    def relay(
        self, kind: SubjectKind
    ) -> tuple[dict[str, OriginProgress], dict[str, Position], dict[str, Position]]:
        """What to tell the partitions of `kind`: per origin, its progress; the first
        disposition awaited they are to answer for; and the last disposition read
        (everything before it has been offered: an event of the same time written just
        before it goes first)."""
        asked = {}
        for origin, awaiting in self.awaiting.items():
            ask = next((a.position for a in awaiting.values() if a.kind in (kind, None)), None)
            if ask is not None:
                asked[origin] = ask
        return dict(sorted(self.reported.items())), asked, dict(sorted(self.last_read.items()))

    def restore(self, awaiting: Iterable[tuple[str, str, Awaited]]) -> None:
        """Await again the dispositions (origin, token, what it awaits) a previous holder of
        the linker awaited, in the order they were read."""
        for origin, token, (position, kind) in sorted(
            awaiting, key=lambda a: (a[0], a[2].position.offset)
        ):
            self.await_alert(origin, token, position, kind)


_NOWHERE = Position(-1, -1, -1)


def _latest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)
