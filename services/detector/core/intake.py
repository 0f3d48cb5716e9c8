"""Admission of raw input messages: bytes from a topic -> a validated event, or a rejection.

The worker and offline replay both admit messages here, so a message is accepted or
dead-lettered for the same reason in both.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from schemas.codec import DecodeError, decode
from schemas.events import AccountOpen, InputEvent, SimActivation, Transfer, WatchlistEntry
from schemas.types import IDENTITY_PATTERN

InputTopic = Literal["sim-activations", "account-opens", "transfers", "watchlist"]
INPUT_TOPICS: tuple[InputTopic, ...] = (
    "sim-activations",
    "account-opens",
    "transfers",
    "watchlist",
)

EVENT_MODELS: dict[InputTopic, type[InputEvent]] = {
    "sim-activations": SimActivation,
    "account-opens": AccountOpen,
    "transfers": Transfer,
}
_IDENTITY = re.compile(IDENTITY_PATTERN)


@dataclass(frozen=True, slots=True)
class WatchlistUpdate:
    """A watchlist record: a listing, or (entry None) a tombstone lifting it."""

    identity: str
    entry: WatchlistEntry | None


Admitted = SimActivation | AccountOpen | Transfer | WatchlistUpdate


def admit(
    topic: InputTopic,
    key: bytes | None,
    value: bytes | None,
    now: datetime,
    max_clock_skew: timedelta,
) -> Admitted:
    """Validate one message from an input topic; raises `DecodeError` to reject it.

    The key of event topics is not trusted: the worker re-keys every event from its value,
    so a producer's key or partitioner cannot change what is detected. The watchlist is
    different: it is compacted by key, so a listing's key must be its identity.
    """
    if topic == "watchlist":
        return _admit_watchlist(key, value)
    if value is None:
        raise DecodeError("invalid", "message has no value")
    event = decode(EVENT_MODELS[topic], value)
    if event.occurred_at > now + max_clock_skew:
        raise DecodeError(
            "from_future",
            f"occurred_at {event.occurred_at.isoformat()} is more than "
            f"{max_clock_skew} ahead of the clock ({now.isoformat()})",
        )
    return event  # type: ignore[return-value]


def _admit_watchlist(key: bytes | None, value: bytes | None) -> WatchlistUpdate:
    key_text = None if key is None else key.decode("utf-8", errors="replace")
    if value is None:
        if key_text is None or not _IDENTITY.match(key_text):
            raise DecodeError("invalid", "a watchlist tombstone needs an identity token as key")
        return WatchlistUpdate(key_text, None)
    entry = decode(WatchlistEntry, value)
    if key_text is not None and key_text != entry.identity:
        raise DecodeError("key_mismatch", "a watchlist record's key must be its identity")
    return WatchlistUpdate(entry.identity, entry)
