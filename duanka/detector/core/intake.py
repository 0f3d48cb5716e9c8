"""Admission of raw input messages: bytes from a topic -> a validated event, or a rejection.

The worker and offline replay both admit messages here, so a message is accepted or
dead-lettered for the same reason in both.
"""

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from duanka._native import event_values
from duanka.detector.core import trusted
from duanka.schemas.alerts import DeadLetter
from duanka.schemas.codec import DecodeError, parse_json, validate
from duanka.schemas.dispositions import Disposition
from duanka.schemas.events import AccountOpen, Event, SimActivation, Transfer, WatchlistEntry
from duanka.schemas.types import IDENTITY_PATTERN

InputTopic = Literal["sim-activations", "account-opens", "transfers", "watchlist", "dispositions"]
INPUT_TOPICS: tuple[InputTopic, ...] = (
    "sim-activations",
    "account-opens",
    "transfers",
    "watchlist",
    "dispositions",
)
"""Every input topic. Dispositions are about alerts, not subjects: they go to the case
linker (`admit` gives them as they are), the others to the subjects they concern."""

EVENT_MODELS: dict[str, type[SimActivation] | type[AccountOpen] | type[Transfer]] = {
    "sim-activations": SimActivation,
    "account-opens": AccountOpen,
    "transfers": Transfer,
}
_IDENTITY = re.compile(IDENTITY_PATTERN)
DEAD_LETTER_BYTES = 64 * 1024
"""How much of a rejected message's value (and key) its dead letter keeps: a message too
large for the input contract must not make its dead letter too large for Kafka."""


@dataclass(frozen=True, slots=True)
class WatchlistUpdate:
    """A watchlist record: a listing, or (entry None) a tombstone lifting it."""

    identity: str
    entry: WatchlistEntry | None
    lifted_own: bool = False
    """A tombstone duanka wrote, lifting its own listing of the identity (an appeal): the
    identity lifted it as it wrote it, so reading it back changes nothing."""


@dataclass(frozen=True, slots=True)
class Confirmation:
    """An institution confirmed an alert about an account as fraud: what the disposition
    derives for the account (`disposal`), which it flags as a mule rule would
    (`payment_to_flagged`) from when it was decided."""

    account: str
    alert_id: str
    rule: str
    """The rule of the alert confirmed."""
    institution: str
    decided_at: datetime
    holder: str | None = None
    """The account's holder as the alert confirmed named it."""


@dataclass(frozen=True, slots=True)
class Appeal:
    """An institution found an alert about an identity a false positive: what the
    disposition derives for the identity (`disposal`), which lifts duanka's own listing of
    it if that alert made it (`engine`)."""

    identity: str
    alert_id: str
    rule: str
    """The rule of the alert found a false positive."""
    listed_at: datetime
    """The alert's window end: where a listing it made begins."""
    institution: str
    decided_at: datetime


Admitted = (
    SimActivation | AccountOpen | Transfer | WatchlistUpdate | Disposition | Confirmation | Appeal
)
"""A message admitted from an input topic, or derived from one (a confirmation, an
appeal)."""


def admit(
    topic: InputTopic,
    key: bytes | None,
    value: bytes | None,
    now: datetime,
    max_clock_skew: timedelta,
) -> Admitted:
    """Validate one message from an input topic; raises `DecodeError` to reject it.

    The key of event topics is not trusted: the worker re-keys every event from its value,
    so a producer's key or partitioner cannot change what is detected. The watchlist and
    dispositions are different: the watchlist is compacted by key, so a listing's key must
    be its identity, and a disposition keyed by another alert than its own is a mistake.
    """
    admitted = decode_admitted(topic, key, value)
    if isinstance(admitted, SimActivation | AccountOpen | Transfer):
        _not_from_future("occurred_at", admitted.occurred_at, now, max_clock_skew)
    elif isinstance(admitted, Disposition):
        _not_from_future("decided_at", admitted.decided_at, now, max_clock_skew)
    return admitted


def _not_from_future(name: str, at: datetime, now: datetime, max_clock_skew: timedelta) -> None:
    if at > now + max_clock_skew:
        raise DecodeError(
            "from_future",
            f"{name} {at.isoformat()} is more than {max_clock_skew} ahead of the clock "
            f"({now.isoformat()})",
        )


def decode_admitted(topic: InputTopic, key: bytes | None, value: bytes | None) -> Admitted:
    """Decode and validate a message of an input topic, without the clock check (the worker
    re-decodes with this what it already admitted). An event plainly valid takes the native
    fast path (`duanka._native.event_values`); anything else, and every rejection, the
    reference: `validate_document`, which `tests/unit/test_native.py` holds it to."""
    if value is None:
        if topic == "watchlist":
            return _watchlist_tombstone(key)
        raise DecodeError("invalid", "message has no value")
    values = event_values(topic, value)
    if values is not None:
        return cast(Event, trusted.build(topic, values))
    return validate_document(topic, key, parse_json(value))


def validate_document(topic: InputTopic, key: bytes | None, document: object) -> Admitted:
    """Validate the parsed JSON value of a message (a watchlist record's key must be its
    identity, a disposition's its alert id)."""
    if topic == "dispositions":
        disposition = validate(Disposition, document)
        if key is not None and key.decode("utf-8", errors="replace") != disposition.alert_id:
            raise DecodeError("key_mismatch", "a disposition's key must be its alert id")
        return disposition
    if topic != "watchlist":
        return validate(EVENT_MODELS[topic], document)
    entry = validate(WatchlistEntry, document)
    if key is not None and key.decode("utf-8", errors="replace") != entry.identity:
        raise DecodeError("key_mismatch", "a watchlist record's key must be its identity")
    return WatchlistUpdate(entry.identity, entry)


def _watchlist_tombstone(key: bytes | None) -> WatchlistUpdate:
    key_text = None if key is None else key.decode("utf-8", errors="replace")
    if key_text is None or not _IDENTITY.match(key_text):
        raise DecodeError("invalid", "a watchlist tombstone needs an identity token as key")
    return WatchlistUpdate(key_text, None)


def dead_letter(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    raw: bytes | None,
    error: DecodeError,
    received_at: datetime,
) -> DeadLetter:
    """The dead letter of a rejected message, with its original bytes (at most the first
    DEAD_LETTER_BYTES) as text, or as base64 when they are not UTF-8."""
    key_text, key_encoding = _as_text(key)
    raw_text, raw_encoding = _as_text(raw)
    return DeadLetter(
        topic=topic,
        partition=partition,
        offset=offset,
        key=key_text,
        key_encoding=key_encoding,
        reason=error.reason,
        error=str(error),
        raw=raw_text,
        raw_encoding=raw_encoding,
        raw_size=0 if raw is None else len(raw),
        key_size=0 if key is None else len(key),
        received_at=received_at,
    )


def _as_text(data: bytes | None) -> tuple[str | None, Literal["utf-8", "base64"]]:
    if data is None:
        return None, "utf-8"
    data = data[:DEAD_LETTER_BYTES]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"
