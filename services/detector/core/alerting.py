"""Building alerts: deterministic ids, evidence caps and readable wording shared by rules."""

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from schemas.alerts import (
    MAX_EVIDENCE_EVENTS,
    Action,
    Alert,
    Evidence,
    RuleName,
    Severity,
    Subject,
    Window,
)
from schemas.events import InputEvent
from services.detector.core.clock import from_ms


def alert_id(rule: RuleName, subject: Subject, trigger: InputEvent) -> str:
    """Same rule, subject and triggering event -> same id, whichever worker or replay made it.

    Consumers deduplicate on it, so a re-processed event never blocks a customer twice.
    """
    material = "\x1f".join((rule, subject.kind, subject.id, trigger.source, trigger.event_id))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def build_alert(
    *,
    rule: RuleName,
    severity: Severity,
    subject: Subject,
    trigger: InputEvent,
    window: tuple[int, int],
    event_ids: Sequence[str],
    count: int,
    distinct: int,
    actions: Sequence[Action],
    summary: str,
    detected_at: datetime,
    amount_minor: int = 0,
) -> Alert:
    """An alert whose evidence keeps the newest MAX_EVIDENCE_EVENTS event ids."""
    return Alert(
        alert_id=alert_id(rule, subject, trigger),
        rule=rule,
        severity=severity,
        subject=subject,
        trigger_event_id=trigger.event_id,
        window=Window(start=from_ms(window[0]), end=from_ms(window[1])),
        evidence=Evidence(
            event_ids=list(event_ids[-MAX_EVIDENCE_EVENTS:]),
            count=count,
            distinct=distinct,
            amount_minor=amount_minor,
        ),
        actions=list(actions),
        summary=summary,
        detected_at=detected_at,
    )


def short(token: str) -> str:
    """A recognisable prefix of a long token, for summaries."""
    return token if len(token) <= 12 else f"{token[:12]}…"


def human_duration(duration: timedelta) -> str:
    """`7 days`, `24 hours`, `90 minutes`: the unit a person would say."""
    seconds = int(duration.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
