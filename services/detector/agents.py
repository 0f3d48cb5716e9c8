"""Agents: decode and admit input, re-key it by subject, apply the engine, publish results.

Two stages. `ingest` reads the input topics as producers partitioned them, rejects bad
messages to `dead-letters`, and forwards the original bytes re-keyed by identity to the
worker's own repartition topic. `identities` consumes that topic, so every event of one
identity reaches the partition that holds its state, whatever partitioner produced it.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from schemas.alerts import DeadLetter, DeadLetterReason
from schemas.codec import DecodeError, decode, encode
from schemas.events import SimActivation, WatchlistEntry
from services.detector.core.intake import INPUT_TOPICS, InputTopic, WatchlistUpdate, admit
from services.detector.core.state import IdentityState

if TYPE_CHECKING:
    from services.detector.app import Detector

log = logging.getLogger(__name__)

KIND_HEADER = "duanka-kind"
"""Header on the repartition topic naming the input topic an event came from."""


def register(detector: Detector) -> None:
    """Register the ingest and identities agents on the detector's app."""
    app, settings = detector.app, detector.settings
    topic_kinds: dict[str, InputTopic] = {settings.topic(kind): kind for kind in INPUT_TOPICS}

    @app.agent(detector.inputs, name="ingest")
    async def ingest(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            await _guarded(
                detector, message, _ingest(detector, topic_kinds[message.topic], message)
            )

    @app.agent(detector.identity_events, name="identities")
    async def identities(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            await _guarded(detector, message, _apply_identity_event(detector, message))


async def _guarded(detector: Detector, message: Any, work: Coroutine[Any, Any, None]) -> None:
    """Run one message's work; whatever goes wrong, the message ends in `dead-letters` with
    the reason, and the agent goes on with the next one (Faust would otherwise restart the
    agent and skip the message without a trace)."""
    try:
        await work
    except DecodeError as exc:
        await _dead_letter(detector, message, exc.reason, str(exc))
    except Exception as exc:
        log.exception(
            "failed to process %s[%d]@%d", message.topic, message.partition, message.offset
        )
        await _dead_letter(detector, message, "internal_error", repr(exc))


async def _ingest(detector: Detector, kind: InputTopic, message: Any) -> None:
    """Admit one input message and forward it, re-keyed by identity, to the identity topic."""
    admitted = admit(
        kind, message.key, message.value, datetime.now(UTC), detector.settings.max_clock_skew
    )
    identity = _identity_of(admitted)
    if identity is None:
        return  # account opens and transfers: validated, no rule uses them yet
    await detector.identity_events.send(
        key=identity.encode(),
        value=message.value,
        headers={KIND_HEADER: kind.encode()},
        timestamp=message.timestamp,
    )


def _identity_of(admitted: object) -> str | None:
    if isinstance(admitted, SimActivation):
        return admitted.identity
    if isinstance(admitted, WatchlistUpdate):
        return admitted.identity
    return None


async def _apply_identity_event(detector: Detector, message: Any) -> None:
    """Apply one re-keyed event to its identity's state and publish what it caused."""
    table = detector.identities
    key: bytes = message.key
    kind = dict(message.headers or ()).get(KIND_HEADER, b"").decode()
    stored = table.get(key)
    state = None if stored is None else IdentityState.from_json(stored)
    engine = detector.engine
    if kind == "watchlist":
        entry = None if message.value is None else decode(WatchlistEntry, message.value)
        _store(table, key, engine.apply_watchlist(state, entry))
        return
    if kind != "sim-activations":
        raise ValueError(f"unexpected event kind {kind!r} on the identity topic")
    outcome = engine.apply_sim_activation(
        state, decode(SimActivation, message.value), datetime.now(UTC)
    )
    if outcome.duplicate:
        return
    _store(table, key, outcome.state)
    for alert in outcome.alerts:
        await detector.alerts.send(key=alert.subject.id.encode(), value=encode(alert))
    for listing in outcome.listings:
        await detector.watchlist.send(key=listing.identity.encode(), value=encode(listing))


def _store(table: Any, key: bytes, state: IdentityState | None) -> None:
    """Write the whole value back (Faust logs only assignments to the changelog)."""
    if state is None:
        if key in table:
            del table[key]
    else:
        table[key] = state.to_json()


async def _dead_letter(
    detector: Detector, message: Any, reason: DeadLetterReason, error: str
) -> None:
    key_text, key_encoding = _as_text(message.key)
    raw_text, raw_encoding = _as_text(message.value)
    letter = DeadLetter(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=key_text,
        key_encoding=key_encoding,
        reason=reason,
        error=error,
        raw=raw_text,
        raw_encoding=raw_encoding,
        received_at=datetime.now(UTC),
    )
    log.info(
        "dead letter from %s[%d]@%d: %s", message.topic, message.partition, message.offset, error
    )
    await detector.dead_letters.send(key=message.key, value=encode(letter))


def _as_text(data: bytes | None) -> tuple[str | None, Any]:
    """Bytes as UTF-8 text when they are, else base64."""
    if data is None:
        return None, "utf-8"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"
