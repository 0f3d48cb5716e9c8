"""Cases: alerts joined into gangs by what they share (contract version 2).

Two alerts are joined when their window ends are less than the case horizon apart and
- they name a common identity, number, account, device or company (the subject is always
  among an alert's entities, so one naming the other's subject is such a case too), or an
  account's holder is among the other's (or is the other's holder); or
- a counterparty or an outlet one names is the other's subject (money between two alerted
  accounts; a complicit outlet).

Counterparties and outlets that no alert is about never join alerts: victims and busy shops
stay out. A case is everything connected by such joins, so it depends only on the set of
alerts, not on the order they arrive in, and so does its id: derived from its earliest
alert (by window end, then alert id). When an alert joins cases, the joined case takes the
id of the earliest, and each other one is published once more as `merged` into it.

Institutions report back what they made of alerts (`dispose`): a case with an alert
confirmed as fraud is `confirmed`, one all of whose alerts were found false positives is
`closed`. An institution decides once per alert. A disposition can reach the linker before
its alert does (in a worker the alert comes a longer way, from its subject's agent): it is
*held* until the alert is linked, and taken then. It is rejected as of an unknown alert
once the alerts linked reach `grace` past its decision (an institution decides on an alert
it has been sent, so its alert is not coming), or at once if they had already. How far the
alerts reach is measured per *lane*, the subject partition an alert comes from, whose
alerts come in event-time order, and is the least over the lanes: in a backlog one
partition can be days behind another, and its alerts are still to come.
"""

import hashlib
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal, NamedTuple

from duanka.detector.core.alerting import plural, yuan
from duanka.detector.core.clock import duration_ms, from_ms, to_ms
from duanka.detector.core.disposal import Raised, derive
from duanka.detector.core.intake import Appeal, Confirmation
from duanka.detector.core.policy import Policy
from duanka.detector.core.rules.payment_to_flagged import FLAGGING
from duanka.detector.core.state import Entity
from duanka.schemas.alerts import (
    ENTITY_FIELDS,
    Alert,
    EntityCounts,
    EntityKind,
    RuleName,
    Severity,
)
from duanka.schemas.cases import MAX_MEMBERS, Case, CaseStatus, Members
from duanka.schemas.codec import DecodeError
from duanka.schemas.dispositions import Disposition

JOINING: Final[frozenset[EntityKind]] = frozenset(
    {"identity", "msisdn", "account", "device", "company"}
)
"""The kinds of entity two alerts join on by naming the same one (not outlets)."""
SEVERITY_ORDER: Final[dict[Severity, int]] = {"medium": 0, "high": 1, "critical": 2}


class Disposal(NamedTuple):
    """What a disposition taken changed: the record of its alert's case (none when it was
    held, and taken as its alert was linked: the alert's records show it), whether it is
    new (not one read again), and the messages it sends to subjects (`routing.route` says
    where)."""

    disposition: Disposition
    cases: list[Case]
    new: bool
    rule: RuleName
    """The rule of the alert disposed of."""
    derived: list[Confirmation | Appeal]
    """A confirmation of an alert about an account, to the account (it flags it); a false
    positive found of an alert about an identity, to the identity (an appeal: it lifts the
    listing the alert made)."""


class Linking(NamedTuple):
    """What linking an alert changed."""

    cases: list[Case]
    """The case it is in, then each case merged into it, as it was."""
    disposals: list[Disposal]
    """The dispositions of it that were held, taken now."""
    expired: list[Disposition]
    """Held dispositions of other alerts that the alerts linked now reach `grace` past:
    of unknown alerts, to reject."""


class Linked(NamedTuple):
    """What the linker keeps of one alert."""

    alert_id: str
    at: int
    """The alert's window end (epoch ms)."""
    rule: RuleName
    severity: Severity
    subject: Entity
    members: tuple[Entity, ...]
    """Its entities and its account's holder: what it makes members of its case."""
    references: tuple[Entity, ...]
    """Its counterparties and outlets: they join only an alert about them."""
    institutions: tuple[str, ...]
    amount_minor: int
    holder: str | None
    """The holder of its account, where it names one."""

    @property
    def order(self) -> tuple[int, str]:
        """Earliest first: by window end, then alert id."""
        return (self.at, self.alert_id)

    def joining_keys(self) -> Iterable[Entity]:
        """What it joins other alerts on by naming the same."""
        return (member for member in self.members if member[0] in JOINING)


def linked(alert: Alert) -> Linked:
    """What the linker keeps of an alert (a version 1 alert names only its subject)."""
    evidence = alert.evidence
    subject: Entity = (alert.subject.kind, alert.subject.id)
    members = {subject}
    references: set[Entity] = set()
    if evidence.entities is not None:
        for kind, name in ENTITY_FIELDS.items():
            members.update((kind, id) for id in getattr(evidence.entities, name))
    if evidence.holder is not None:
        members.add(("identity", evidence.holder))
    references.update(("account", id) for id in evidence.counterparties)
    references.update(member for member in members if member[0] == "outlet")
    return Linked(
        alert.alert_id,
        to_ms(alert.window.end),
        alert.rule,
        alert.severity,
        subject,
        tuple(sorted(members)),
        tuple(sorted(references - {subject})),
        tuple(sorted({a.institution for a in alert.actions if a.institution is not None})),
        evidence.amount_minor,
        evidence.holder,
    )


def case_id(earliest_alert_id: str) -> str:
    """The id of a case whose earliest alert has this id."""
    return hashlib.sha256(earliest_alert_id.encode()).hexdigest()[:32]


@dataclass
class CaseLinker:
    """Every alert linked so far, indexed by what it joins on, and the cases they form."""

    horizon: int
    """How far apart (ms) two alerts' window ends may be and still join."""
    grace: int
    """How far (ms) past a disposition's decision the alerts linked may reach while it is
    held for its alert."""
    alerts: dict[str, Linked] = field(default_factory=dict)
    _case_of: dict[str, str] = field(default_factory=dict)
    """Per alert id, the id of its case's earliest alert."""
    _cases: dict[str, list[str]] = field(default_factory=dict)
    """Per case (by its earliest alert's id), its alert ids."""
    _by_subject: dict[Entity, list[str]] = field(default_factory=dict)
    _by_reference: dict[Entity, list[str]] = field(default_factory=dict)
    _by_member: dict[Entity, list[str]] = field(default_factory=dict)
    """Per member, the alerts naming it (in one case, but for an outlet): what alerts
    join on by naming the same (`Linked.joining_keys`), and what the queries find."""
    _roots: dict[str, str] = field(default_factory=dict)
    """Per case id, current or merged, the earliest alert of the case it is now part of."""
    dispositions: dict[str, dict[str, Disposition]] = field(default_factory=dict)
    """Per alert id, the dispositions of it, by institution."""
    held: dict[str, dict[str, Disposition]] = field(default_factory=dict)
    """Per alert id not linked yet, the dispositions of it, by institution."""
    lane: Callable[[Entity], Hashable] = field(default=lambda subject: subject[0])
    """The lane of an alert's subject: the partition its alerts come from, in event-time
    order (by default its kind: replay's alerts all come in order)."""
    _lanes: dict[Hashable, int] = field(default_factory=dict)
    """Per lane, the latest window end (epoch ms) of the alerts linked from it."""
    placing: bool = False
    """Whether a disposition held is placed among its subjects' events some time after it
    is read (the worker: `disposition_gate`), rather than as it is read (replay). Until it
    is placed, its alert may still come from before it, however far other alerts reach:
    it is neither rejected nor expired."""
    unplaced: set[tuple[str, str]] = field(default_factory=set)
    """The (alert id, institution) of the dispositions held and not placed yet."""
    _listed: dict[str, Case] = field(default_factory=dict)
    """Per case (by its earliest alert's id), its record as `records` last made it: made
    again only once the case has changed (an alert joined, a disposition was taken)."""

    @classmethod
    def of(cls, policy: Policy, lane: Callable[[Entity], Hashable] | None = None) -> "CaseLinker":
        """A linker with the policy's case horizon and disposition grace (and `lane`)."""
        horizon, grace = duration_ms(policy.case_horizon), duration_ms(policy.disposition_grace)
        return cls(horizon, grace) if lane is None else cls(horizon, grace, lane=lane)

    @property
    def clock(self) -> int | None:
        """How far (epoch ms) the alerts linked reach: the least over the lanes of the latest
        window end (None: none linked)."""
        return min(self._lanes.values(), default=None)

    def link(self, alert: Alert, now: datetime) -> Linking:
        """Join an alert to the cases it connects, take the dispositions held for it, and
        expire those held past `grace`. An alert linked already changes nothing, and its
        case's record is returned again: a worker publishes it again, since the first may
        have been lost in a crash."""
        known = self._case_of.get(alert.alert_id)
        if known is not None:
            return Linking([self.record(known, now)], [], [])
        new = linked(alert)
        root, joined = self._joining(new)
        merged = [
            self.record(old, now).model_copy(
                update={"status": "merged", "merged_into": case_id(root)}
            )
            for old in joined
            if old != root
        ]
        self._join(new, root, joined)
        disposals = [
            self._take(held, now, with_record=False)
            for held in self.held.pop(alert.alert_id, {}).values()
        ]
        for disposal in disposals:
            self.unplaced.discard((alert.alert_id, disposal.disposition.institution))
        return Linking([self.record(root, now), *merged], disposals, self._expire())

    def restore(self, alerts: Iterable[Alert]) -> None:
        """Link alerts, in any order, without making records: a worker taking the linker
        over rebuilds it from the alerts stored, since cases depend only on which alerts
        there are."""
        for alert in alerts:
            if alert.alert_id not in self._case_of:
                new = linked(alert)
                self._join(new, *self._joining(new))

    def dispose(self, disposition: Disposition, now: datetime) -> Disposal | None:
        """Take an institution's disposition of an alert, with the record of the alert's
        case; None: its alert is not linked yet, and it is held for it. The same
        disposition again changes nothing (a worker reads it again after a crash), and its
        case's record is returned again. Raises `DecodeError` for a second, different
        disposition of an alert by one institution, and for an alert not linked when the
        alerts linked reach `grace` past the decision already."""
        alert_id, institution = disposition.alert_id, disposition.institution
        known = alert_id in self._case_of
        given = self._decided(alert_id)
        earlier = given.get(institution)
        if earlier is not None and earlier != disposition:
            raise repeated(earlier)
        if known:
            return self._take(disposition, now, with_record=True)
        if self.placing and earlier is None:
            self.unplaced.add((alert_id, institution))
        if (alert_id, institution) not in self.unplaced and self._expired(disposition, self.clock):
            given.pop(institution, None)
            if not given:
                del self.held[alert_id]
            raise unknown_alert(disposition)
        given[institution] = disposition
        return None

    def _take(self, disposition: Disposition, now: datetime, with_record: bool) -> Disposal:
        alert_id, institution = disposition.alert_id, disposition.institution
        given = self.dispositions.setdefault(alert_id, {})
        new = institution not in given
        given[institution] = disposition
        self._listed.pop(self._case_of[alert_id], None)
        derived = self.derived(disposition) if new else []
        cases = [self.record(self._case_of[alert_id], now)] if with_record else []
        return Disposal(disposition, cases, new, self.alerts[alert_id].rule, derived)

    def derived(self, disposition: Disposition) -> list[Confirmation | Appeal]:
        """What a disposition of a linked alert sends to its subject (`disposal`)."""
        alert = self.alerts[disposition.alert_id]
        kind, subject = alert.subject
        if kind != "account" and kind != "identity":
            return []
        return derive(Raised(kind, subject, alert.rule, alert.at, alert.holder), disposition)

    def _decided(self, alert_id: str) -> dict[str, Disposition]:
        """The dispositions of an alert by institution, to add to."""
        return self._book(alert_id).setdefault(alert_id, {})

    def _book(self, alert_id: str) -> dict[str, dict[str, Disposition]]:
        """Where an alert's dispositions are: taken if it is linked, else held."""
        return self.dispositions if alert_id in self._case_of else self.held

    def _expired(self, disposition: Disposition, clock: int | None) -> bool:
        return clock is not None and clock >= to_ms(disposition.decided_at) + self.grace

    def _expire(self) -> list[Disposition]:
        """Drop and return the held dispositions the alerts linked reach `grace` past."""
        expired: list[Disposition] = []
        if not self.held:
            return expired
        clock = self.clock
        for alert_id in list(self.held):
            given = self.held[alert_id]
            for institution in [
                i
                for i, d in given.items()
                if (alert_id, i) not in self.unplaced and self._expired(d, clock)
            ]:
                expired.append(given.pop(institution))
            if not given:
                del self.held[alert_id]
        return expired

    def place(self, alert_id: str, institution: str) -> list[Disposition]:
        """A disposition held is placed among its subjects' events, before its alert: from
        now on it may expire; returned (dropped) if it has already."""
        self.unplaced.discard((alert_id, institution))
        given = self.held.get(alert_id, {})
        disposition = given.get(institution)
        if disposition is None or not self._expired(disposition, self.clock):
            return []
        del given[institution]
        if not given:
            del self.held[alert_id]
        return [disposition]

    def held_count(self) -> int:
        """How many dispositions are held."""
        return sum(len(given) for given in self.held.values())

    def give_up_held(self) -> list[Disposition]:
        """Drop and return every disposition held: the stream has ended, so their alerts are
        not coming."""
        held = [d for given in self.held.values() for d in given.values()]
        self.held.clear()
        return held

    def restore_dispositions(
        self,
        dispositions: Iterable[Disposition],
        placed: Callable[[Disposition], bool] = lambda disposition: True,
    ) -> None:
        """Take dispositions stored by a worker, in any order, after the alerts: those of
        alerts restored are taken, the others held, and not `placed` yet unless said so."""
        self._listed.clear()
        for disposition in dispositions:
            alert_id, institution = disposition.alert_id, disposition.institution
            self._decided(alert_id)[institution] = disposition
            if self.placing and alert_id in self.held and not placed(disposition):
                self.unplaced.add((alert_id, institution))

    def refusal(self, alert_id: str, institution: str) -> DecodeError | None:
        """Why a new disposition of an alert by an institution would be refused now: the
        institution decided on it already, or no such alert is linked (None: it would be
        taken)."""
        earlier = self._book(alert_id).get(alert_id, {}).get(institution)
        if earlier is not None:
            return repeated(earlier)
        if alert_id not in self._case_of:
            return DecodeError("unknown_alert", f"no alert {alert_id} has been linked")
        return None

    def outcome(self, alert_id: str) -> Literal["confirmed", "false_positive"] | None:
        """What institutions found of an alert: `confirmed` if one confirmed it as fraud,
        else `false_positive` if one found it was not (None: neither yet)."""
        outcomes = {d.outcome for d in self.dispositions.get(alert_id, {}).values()}
        if "confirmed" in outcomes:
            return "confirmed"
        return "false_positive" if "false_positive" in outcomes else None

    def case(self, id: str, now: datetime) -> Case | None:
        """The record of a case by its id (None: no such case). A case merged into another
        is that case's record, `merged` into it under the id asked for."""
        root = self._root_now(id)
        if root is None:
            return None
        record = self.record(root, now)
        if record.case_id == id:
            return record
        return record.model_copy(
            update={"case_id": id, "status": "merged", "merged_into": record.case_id}
        )

    def case_with(self, member: Entity, now: datetime) -> Case | None:
        """The record of the case a member (entity or holder) is in (None: none is)."""
        naming = self._by_member.get(member)
        return None if naming is None else self.record(self._case_of[naming[0]], now)

    def naming(self, member: Entity) -> list[Linked]:
        """The alerts naming a member, earliest first. Alerts naming an outlet may be in
        several cases: outlets join nothing by themselves."""
        return sorted(
            (self.alerts[a] for a in self._by_member.get(member, ())), key=lambda a: a.order
        )

    def records(self, now: datetime) -> list[Case]:
        """The record of every case as it stands (none merged); `updated_at` is when the
        case last changed, or when it was first listed since this linker was restored."""
        listed = self._listed
        return [
            listed.get(root) or listed.setdefault(root, self.record(root, now))
            for root in self._cases
        ]

    def alerts_of(self, id: str) -> list[Linked]:
        """The alerts of the case with this id, earliest first (none: no such case, or it
        was merged into another)."""
        root = self._root_now(id)
        return [] if root is None or case_id(root) != id else self._earliest_first(root)

    def find(self, id: str) -> list[tuple[Entity, str]]:
        """The members with this id, of any kind, and the case of each (an outlet's
        alerts may be in several)."""
        found = set()
        for kind in ENTITY_FIELDS:
            for alert_id in self._by_member.get((kind, id), ()):
                found.add(((kind, id), case_id(self._case_of[alert_id])))
        return sorted(found)

    def case_count(self) -> int:
        """How many cases the alerts linked so far form."""
        return len(self._cases)

    def case_of(self, alert_id: str) -> str | None:
        """The id of the case an alert is in (None: not linked)."""
        root = self._case_of.get(alert_id)
        return None if root is None else case_id(root)

    def record(self, root: str, now: datetime) -> Case:
        """The record of the case whose earliest alert is `root`."""
        alerts = self._earliest_first(root)
        members: dict[EntityKind, set[str]] = {kind: set() for kind in ENTITY_FIELDS}
        for alert in alerts:
            for kind, id in alert.members:
                members[kind].add(id)
        rules = Counter(alert.rule for alert in alerts)
        institutions = sorted({i for alert in alerts for i in alert.institutions})
        through: dict[Entity, int] = {}
        for alert in alerts:
            if alert.rule in FLAGGING:
                through[alert.subject] = max(through.get(alert.subject, 0), alert.amount_minor)
        amount = sum(through.values())
        counts = {ENTITY_FIELDS[kind]: len(ids) for kind, ids in members.items()}
        return Case(
            case_id=case_id(root),
            status=self._status(alerts),
            members=Members(
                **{ENTITY_FIELDS[k]: sorted(ids)[:MAX_MEMBERS] for k, ids in members.items()}
            ),
            member_counts=EntityCounts(**counts),
            alerts=[alert.alert_id for alert in alerts[:MAX_MEMBERS]],
            alert_count=len(alerts),
            rules=dict(sorted(rules.items())),
            institutions=institutions,
            amount_minor=amount,
            severity=max((a.severity for a in alerts), key=SEVERITY_ORDER.__getitem__),
            first_at=from_ms(alerts[0].at),
            last_at=from_ms(max(alert.at for alert in alerts)),
            summary=_summary(counts, amount, len(alerts), len(institutions)),
            updated_at=now,
        )

    def _root_now(self, id: str) -> str | None:
        """The earliest alert of the case a case id, current or merged, is part of now."""
        root = self._roots.get(id)
        return None if root is None else self._case_of[root]

    def _earliest_first(self, root: str) -> list[Linked]:
        """The alerts of the case whose earliest alert is `root`, earliest first."""
        return sorted((self.alerts[a] for a in self._cases[root]), key=lambda a: a.order)

    def _status(self, alerts: list[Linked]) -> CaseStatus:
        """`confirmed` if an alert of the case was confirmed, `closed` if every one was
        found a false positive, else `open`."""
        found = {self.outcome(alert.alert_id) for alert in alerts}
        if "confirmed" in found:
            return "confirmed"
        return "closed" if found == {"false_positive"} else "open"

    def _joining(self, new: Linked) -> tuple[str, list[str]]:
        """The earliest alert of the case `new` makes, and the earliest alerts of the cases
        it joins, earliest first."""
        joined = sorted(
            {self._case_of[other] for other in self._neighbours(new)},
            key=lambda a: self.alerts[a].order,
        )
        root = joined[0] if joined and self.alerts[joined[0]].order < new.order else new.alert_id
        return root, joined

    def _join(self, new: Linked, root: str, joined: list[str]) -> None:
        self._index(new)
        members = [new.alert_id, *(a for old in joined for a in self._cases.pop(old))]
        self._cases[root] = members
        for alert_id in members:
            self._case_of[alert_id] = root
        for old in {root, *joined}:
            self._roots[case_id(old)] = root
            self._listed.pop(old, None)

    def _neighbours(self, new: Linked) -> set[str]:
        """The alerts linked so far that `new` joins."""
        found: set[str] = set()
        for key in new.joining_keys():
            found.update(self._by_member.get(key, ()))
        for reference in new.references:
            found.update(self._by_subject.get(reference, ()))
        found.update(self._by_reference.get(new.subject, ()))
        return {a for a in found if abs(self.alerts[a].at - new.at) < self.horizon}

    def _index(self, new: Linked) -> None:
        self.alerts[new.alert_id] = new
        lane = self.lane(new.subject)
        self._lanes[lane] = max(self._lanes.get(lane, new.at), new.at)
        self._by_subject.setdefault(new.subject, []).append(new.alert_id)
        for reference in new.references:
            self._by_reference.setdefault(reference, []).append(new.alert_id)
        for member in new.members:
            self._by_member.setdefault(member, []).append(new.alert_id)


def repeated(earlier: Disposition) -> DecodeError:
    """The rejection of a second disposition of an alert by the institution of `earlier`."""
    return DecodeError(
        "repeated_disposition",
        f"{earlier.institution} disposed of alert {earlier.alert_id} already: "
        f"{earlier.outcome} at {earlier.decided_at.isoformat()}",
    )


def unknown_alert(disposition: Disposition) -> DecodeError:
    """The rejection of a disposition whose alert is not coming."""
    return DecodeError(
        "unknown_alert",
        f"no alert {disposition.alert_id} has been raised by the time alerts reached past "
        f"the decision at {disposition.decided_at.isoformat()}",
    )


def _summary(counts: dict[str, int], amount: int, alerts: int, institutions: int) -> str:
    """`3 identities on 1 device, 15 numbers, 6 accounts; CNY 12,000.00 through mule
    accounts; 12 alerts at 5 institutions`."""
    parts = []
    if counts["identities"]:
        people = plural(counts["identities"], "identity", "identities")
        if counts["devices"]:
            people += f" on {plural(counts['devices'], 'device')}"
        parts.append(people)
    elif counts["devices"]:
        parts.append(plural(counts["devices"], "device"))
    for name, noun, many in (
        ("msisdns", "number", None),
        ("accounts", "account", None),
        ("companies", "company", "companies"),
        ("outlets", "outlet", None),
    ):
        if counts[name]:
            parts.append(plural(counts[name], noun, many))
    sentence = ", ".join(parts)
    if amount:
        sentence += f"; CNY {yuan(amount)} through mule accounts"
    return f"{sentence}; {plural(alerts, 'alert')} at {plural(institutions, 'institution')}"
