"""Admitted events as ingest forwards them to the subject agents: validated once, compact.

Ingest admits each input message once (`intake.admit`). What it forwards to each subject
the event concerns is the event's field values in its model's field order, timestamps as
ISO 8601 text, without field names (`compact`). A subject agent builds the event back from
them without parsing or validating again (`expand`): the same value validation gave, with
the same time zones. `tests/unit/test_compact.py` checks the round trip for every topic.
"""

from datetime import datetime
from typing import Any, cast

import orjson

from duanka.detector.core.clock import to_ms
from duanka.detector.core.intake import (
    EVENT_MODELS,
    Admitted,
    Appeal,
    Confirmation,
    InputTopic,
    WatchlistUpdate,
)
from duanka.detector.core.trusted import FIELDS, TIMESTAMPS, build
from duanka.schemas.dispositions import Disposition
from duanka.schemas.events import Message, WatchlistEntry


def compact(topic: InputTopic, event: Admitted) -> list[Any]:
    """The compact form of an event admitted from `topic` (from `dispositions`, what the
    case linker sends to subjects: a disposition offered to the partitions of the kind it
    can act on, `["disposition", alert id, institution, outcome, decided_at]` without its
    note; or, as versions before offers sent it, what it derives, `["confirmation",
    account, alert id, rule, institution, decided_at, holder]` or `["appeal", identity,
    alert id, rule, listed_at, institution, decided_at]`)."""
    if isinstance(event, WatchlistUpdate):
        entry = None if event.entry is None else _values("watchlist", event.entry)
        return [event.identity, entry, *([True] if event.lifted_own else [])]
    if isinstance(event, Confirmation):
        fields = (event.account, event.alert_id, event.rule, event.institution)
        return ["confirmation", *fields, event.decided_at.isoformat(), event.holder]
    if isinstance(event, Appeal):
        fields = (event.identity, event.alert_id, event.rule, event.listed_at.isoformat())
        return ["appeal", *fields, event.institution, event.decided_at.isoformat()]
    if isinstance(event, Disposition):
        decided_at = event.decided_at.isoformat()
        return ["disposition", event.alert_id, event.institution, event.outcome, decided_at]
    return _values(topic, event)


def expand(topic: InputTopic, values: Any) -> Admitted:
    """The event whose compact form, from `topic`, `values` is; raises ValueError if it is
    not one."""
    if topic == "watchlist":
        if (
            not isinstance(values, list)
            or len(values) not in (2, 3)
            or not isinstance(values[0], str)
            or values[2:] not in ([], [True])
        ):
            raise ValueError(f"not a compact watchlist record: {values!r:.200}")
        identity, entry = values[:2]
        listed = None if entry is None else cast(WatchlistEntry, build("watchlist", entry))
        return WatchlistUpdate(identity, listed, lifted_own=len(values) == 3)
    if topic == "dispositions":
        return _derived(values)
    return cast(Admitted, build(topic, values))


def order_time(topic: InputTopic, values: Any) -> int | None:
    """`watermark.order_time` of the event whose compact form, from `topic`, `values` is,
    read from that form alone (epoch ms): an event's time, when a disposition or what it
    derives was decided, None for a watchlist record. Raises ValueError if `values` holds
    no such time; what else it holds is checked when the event is built (`expand`) or
    applied."""
    try:
        if topic == "watchlist":
            return None
        if topic == "dispositions":
            decided = values[_DECIDED_AT[values[0]]]
        else:
            decided = values[_OCCURRED_AT[topic]]
        return to_ms(datetime.fromisoformat(decided))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"no {topic} time in {values!r:.200}: {exc!r}") from None


_OCCURRED_AT = {topic: FIELDS[topic].index("occurred_at") for topic in EVENT_MODELS}
"""Per event topic, where its compact form holds the event's time."""
_DECIDED_AT = {"disposition": 4, "confirmation": 5, "appeal": 6}
"""Per kind of message the case linker sends subjects, where its compact form holds when
it was decided (`compact`)."""


def _derived(values: Any) -> Disposition | Confirmation | Appeal:
    """A message the case linker sent to subjects, from its compact form."""
    match values:
        case [
            "disposition",
            str(alert_id),
            str(by),
            "confirmed" | "false_positive" | "actioned" as outcome,
            str(decided),
        ]:
            at = datetime.fromisoformat(decided)
            return Disposition(alert_id=alert_id, institution=by, outcome=outcome, decided_at=at)
        case [
            "confirmation",
            str(account),
            str(alert_id),
            str(rule),
            str(by),
            str(decided),
            str() | None as holder,
        ]:
            at = datetime.fromisoformat(decided)
            return Confirmation(account, alert_id, rule, by, at, holder)
        case ["appeal", str(who), str(alert_id), str(rule), str(listed), str(by), str(decided)]:
            at, decided_at = datetime.fromisoformat(listed), datetime.fromisoformat(decided)
            return Appeal(who, alert_id, rule, at, by, decided_at)
    raise ValueError(f"not a compact disposition, confirmation or appeal: {values!r:.200}")


def _values(topic: InputTopic, model: Message) -> list[Any]:
    fields = model.__dict__
    values = [fields[name] for name in FIELDS[topic]]
    for index in TIMESTAMPS[topic]:
        if values[index] is not None:
            values[index] = values[index].isoformat()
    return values


def document(event: Admitted) -> bytes | None:
    """An admitted event as a JSON document (None: a tombstone): what a dead letter of a
    forwarded event holds, since its original bytes are not forwarded."""
    if isinstance(event, WatchlistUpdate):
        return None if event.entry is None else event.entry.model_dump_json().encode()
    if isinstance(event, Confirmation | Appeal):
        return orjson.dumps(event)
    return event.model_dump_json().encode()
