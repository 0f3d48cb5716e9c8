"""Agents: decode and admit input, re-key it by subject, apply the engine, publish results.

Two stages. `ingest` reads the input topics as producers partitioned them, rejects bad
messages to `dead-letters`, and forwards the original bytes once per subject the event
concerns (`routing.route`) to that subject kind's own topic, keyed by the subject. One agent
per subject kind consumes its topic, so every event of a subject reaches the partition that
holds the subject's state, whatever partitioner produced it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from schemas.alerts import Alert, SubjectKind
from schemas.codec import DecodeError, encode
from services.detector.core.engine import STATE_TYPES
from services.detector.core.intake import (
    INPUT_TOPICS,
    InputTopic,
    admit,
    dead_letter,
    decode_admitted,
)
from services.detector.core.routing import SUBJECT_KINDS, Address, Stream, route
from services.detector.core.state import SubjectState
from services.detector.core.watermark import origin_of
from services.topics import subject_events_topic

if TYPE_CHECKING:
    from services.detector.app import Detector

log = logging.getLogger(__name__)

TOPIC_HEADER = "duanka-topic"
"""Header on a subject topic: the input topic the event came from."""
PARTITION_HEADER = "duanka-partition"
"""Header on a subject topic: the input partition the event came from (lateness and
watermarks are measured per input partition)."""
RECEIVED_HEADER = "duanka-received"
"""Header on a subject topic: the input record's timestamp (ms), for the event-to-alert
latency. The subject record itself is stamped when it is written: a producer's old
timestamps must not make the subject topics' retention delete what is still unread."""
STREAM_HEADER = "duanka-stream"
"""Header on a subject topic: what the event is to the subject (`routing.Stream`), or
`EXPIRE`."""
EXPIRE = "expire"
"""A subject topic message without a value asking the subject's owner to expire it: table
writes must happen in the stream of the key's partition (see `sweeper`)."""


def register(detector: Detector) -> None:
    """Register the ingest agent and one agent per subject kind on the detector's app."""
    app, settings = detector.app, detector.settings
    topic_kinds: dict[str, InputTopic] = {settings.topic(t): t for t in INPUT_TOPICS}

    @app.agent(detector.inputs, name="ingest")
    async def ingest(stream: Any) -> None:
        processing = detector.metrics.processing.labels("ingest")
        async for event in stream.events():
            message = event.message
            topic = topic_kinds[message.topic]
            with processing.time():
                admitted = await _guarded(detector, message, _ingest(detector, topic, message))
            detector.metrics.events.labels(topic, "ok" if admitted else "invalid").inc()

    for kind in SUBJECT_KINDS:
        _register_subject_agent(detector, kind)

    kinds_by_topic = {subject_events_topic(settings, kind): kind for kind in SUBJECT_KINDS}

    async def forget_watermarks(app: Any, revoked: Any, **kwargs: Any) -> None:
        """A partition handed to another worker is tracked afresh if it comes back."""
        for tp in revoked:
            kind = kinds_by_topic.get(tp.topic)
            if kind is not None:
                detector.watermarks.pop((kind, tp.partition), None)

    app.on_partitions_revoked.connect(cast(Any, forget_watermarks))


def _register_subject_agent(detector: Detector, kind: SubjectKind) -> None:
    @detector.app.agent(detector.subject_events[kind], name=f"{kind}-subjects")
    async def subjects(stream: Any) -> None:
        processing = detector.metrics.processing.labels(kind)
        async for event in stream.events():
            message = event.message
            with processing.time():
                await _guarded(detector, message, _apply(detector, kind, message))


async def _guarded(detector: Detector, message: Any, work: Coroutine[Any, Any, None]) -> bool:
    """Run one message's work; whatever goes wrong, the message ends in `dead-letters` with
    the reason, and the agent goes on with the next one (Faust would otherwise restart the
    agent and skip the message without a trace). Returns whether the work succeeded."""
    try:
        await work
    except DecodeError as exc:
        await _dead_letter(detector, message, exc)
    except Exception as exc:
        log.exception(
            "failed to process %s[%d]@%d", message.topic, message.partition, message.offset
        )
        await _dead_letter(detector, message, DecodeError("internal_error", repr(exc)))
    else:
        return True
    return False


async def _ingest(detector: Detector, topic: InputTopic, message: Any) -> None:
    """Admit one input message and forward it to every subject it concerns."""
    admitted = admit(
        topic, message.key, message.value, datetime.now(UTC), detector.settings.max_clock_skew
    )
    for address in route(admitted):
        await detector.subject_events[address.kind].send(
            key=address.id.encode(),
            value=message.value,
            headers={
                TOPIC_HEADER: topic.encode(),
                PARTITION_HEADER: str(message.partition).encode(),
                STREAM_HEADER: address.stream.encode(),
                RECEIVED_HEADER: str(round(message.timestamp * 1000)).encode(),
            },
        )


async def _apply(detector: Detector, kind: SubjectKind, message: Any) -> None:
    """Apply one re-keyed event to its subject's state and publish what it caused."""
    headers = {name: value.decode() for name, value in (message.headers or ())}
    key: bytes = message.key
    table = detector.tables[kind]
    stored = table.get(key)
    watermark = detector.watermark(kind, message.partition)
    if headers[STREAM_HEADER] == EXPIRE:
        if stored is not None:
            quiet = STATE_TYPES[kind].from_json(stored)
            changed, left = expiry_of(detector, kind, quiet, stored, watermark.value(kind))
            if changed:
                _store(table, key, left, existed=True)
        return
    state = None if stored is None else STATE_TYPES[kind].from_json(stored)
    topic = cast(InputTopic, headers[TOPIC_HEADER])
    partition = int(headers[PARTITION_HEADER])
    stream = cast(Stream, headers[STREAM_HEADER])
    event = decode_admitted(topic, key, message.value)
    watermark.observe(event, partition)
    outcome = detector.engine.apply(
        Address(kind, key.decode(), stream),
        state,
        event,
        datetime.now(UTC),
        origin=origin_of(topic, partition),
        watermark=watermark.value(kind),
    )
    if outcome.duplicate or outcome.late:
        detector.metrics.events.labels(topic, "duplicate" if outcome.duplicate else "late").inc()
    if not outcome.duplicate:
        encoded = None if outcome.state is None else outcome.state.to_json()
        _store(table, key, encoded, existed=stored is not None)
    stamp = headers.get(RECEIVED_HEADER)  # absent on records of older versions
    received = message.timestamp if stamp is None else int(stamp) / 1000
    for alert in outcome.alerts:
        await _publish(detector, alert)
        detector.metrics.latency.observe(max(0.0, time.time() - received))
    for listing in outcome.listings:
        await detector.watchlist.send(key=listing.identity.encode(), value=encode(listing))


def expiry_of(
    detector: Detector, kind: SubjectKind, state: SubjectState, stored: Any, watermark: int | None
) -> tuple[bool, Any]:
    """Expire a state, decoded from `stored`, against a watermark: whether that changes it,
    and the encoded state left (None: nothing, the key can go)."""
    left = detector.engine.expire(kind, state, watermark)
    encoded = None if left is None else left.to_json()
    return encoded != stored, encoded


def _store(table: Any, key: bytes, encoded: Any, existed: bool) -> None:
    """Write a subject's encoded state, or delete the key for None. Reassign: Faust logs
    only assignments to the changelog."""
    if encoded is not None:
        table[key] = encoded
    elif existed:
        del table[key]


async def _publish(detector: Detector, alert: Alert) -> None:
    """To `alerts`, and to `alerts.<institution>` for every institution in its actions."""
    value = encode(alert)
    key = alert.subject.id.encode()
    await detector.alerts.send(key=key, value=value)
    institutions = sorted({a.institution for a in alert.actions if a.institution is not None})
    for institution in institutions:
        topic = await detector.institution_alerts(institution)
        await topic.send(key=key, value=value)
    detector.metrics.alerts.labels(alert.rule, alert.severity).inc()


async def _dead_letter(detector: Detector, message: Any, error: DecodeError) -> None:
    letter = dead_letter(
        message.topic,
        message.partition,
        message.offset,
        message.key,
        message.value,
        error,
        datetime.now(UTC),
    )
    log.info(
        "dead letter from %s[%d]@%d: %s", message.topic, message.partition, message.offset, error
    )
    detector.metrics.dead_letters.labels(error.reason).inc()
    await detector.dead_letters.send(key=message.key, value=encode(letter))
