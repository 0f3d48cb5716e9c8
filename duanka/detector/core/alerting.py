"""Building alerts: deterministic ids, evidence caps and readable wording shared by rules."""

import hashlib
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from duanka.detector.core.clock import from_ms
from duanka.detector.core.history import Timed
from duanka.detector.core.state import Entity, Leg
from duanka.schemas.alerts import (
    ENTITY_FIELDS,
    MAX_ENTITIES,
    MAX_EVIDENCE_EVENTS,
    Action,
    Alert,
    Entities,
    EntityCounts,
    EntityKind,
    Evidence,
    RuleName,
    Severity,
    Subject,
    SubjectKind,
    Window,
)


class Evident(Timed, Protocol):
    """A record an alert counts as evidence: it names the entities of its event."""

    def entities(self) -> Iterator[Entity]: ...


def alert_id(rule: RuleName, subject: Subject, source: str, event_id: str) -> str:
    """Same rule, subject and triggering event (its source and event id) -> same id,
    whichever worker or replay made it.

    Consumers deduplicate on it, so a re-processed event never blocks a customer twice.
    """
    material = "\x1f".join((rule, subject.kind, subject.id, source, event_id))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def build_alert(
    *,
    rule: RuleName,
    severity: Severity,
    subject: tuple[SubjectKind, str],
    trigger: Timed,
    window: tuple[int, int],
    evidence: Sequence[Evident],
    distinct: int,
    actions: Sequence[Action],
    summary: str,
    detected_at: datetime,
    amount_minor: int = 0,
    holder: str | None = None,
    flag_alert_id: str | None = None,
) -> Alert:
    """An alert whose evidence keeps the newest MAX_EVIDENCE_EVENTS event ids, and names
    what its events name (`entities`) and the other ends of its transfers."""
    about = Subject(kind=subject[0], id=subject[1])
    entities, counts = named_entities(about, evidence)
    return Alert(
        alert_id=alert_id(rule, about, trigger.source, trigger.event_id),
        rule=rule,
        severity=severity,
        subject=about,
        trigger_event_id=trigger.event_id,
        window=Window(start=from_ms(window[0]), end=from_ms(window[1])),
        evidence=Evidence(
            event_ids=[r.event_id for r in evidence[-MAX_EVIDENCE_EVENTS:]],
            count=len(evidence),
            distinct=distinct,
            amount_minor=amount_minor,
            entities=entities,
            entity_counts=counts,
            holder=holder,
            flag_alert_id=flag_alert_id,
            counterparties=sorted({r.counterparty for r in evidence if isinstance(r, Leg)})[
                :MAX_ENTITIES
            ],
        ),
        actions=list(actions),
        summary=summary,
        detected_at=detected_at,
    )


def named_entities(subject: Subject, evidence: Sequence[Evident]) -> tuple[Entities, EntityCounts]:
    """The subject and what the evidence names, per kind: sorted and at most MAX_ENTITIES
    ids (the subject always among them), and the whole counts."""
    named: dict[EntityKind, set[str]] = {kind: set() for kind in ENTITY_FIELDS}
    named[subject.kind].add(subject.id)
    for record in evidence:
        for kind, id in record.entities():
            named[kind].add(id)
    listed = {}
    for kind, ids in named.items():
        first = sorted(ids)[:MAX_ENTITIES]
        if kind == subject.kind and subject.id not in first:
            first = sorted([subject.id, *first[: MAX_ENTITIES - 1]])
        listed[ENTITY_FIELDS[kind]] = first
    counts = {ENTITY_FIELDS[kind]: len(ids) for kind, ids in named.items()}
    return Entities(**listed), EntityCounts(**counts)


def short(token: str) -> str:
    """A recognisable prefix of a long token, for summaries."""
    return token if len(token) <= 12 else f"{token[:12]}…"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 carrier`, `3 carriers`; `many` for a noun not made plural with an s."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"


def human_duration(duration: timedelta) -> str:
    """`7 days`, `24 hours`, `90 minutes`: the unit a person would say."""
    seconds = int(duration.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return plural(seconds // size, unit)
    return plural(seconds, "second")


def human_age(ms: int) -> str:
    """An elapsed event time in whole hours, or days from two days on."""
    hours = ms // 3_600_000
    return plural(hours // 24, "day") if hours >= 48 else plural(hours, "hour")


def yuan(amount_minor: int) -> str:
    """Minor units as a readable amount: `5,000.00`."""
    return f"{amount_minor / 100:,.2f}"
