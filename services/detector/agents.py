"""Agents: decode and admit input, re-key it by subject, apply the engine, publish results.

Two stages. `ingest` reads the input topics as producers partitioned them, rejects bad
messages to `dead-letters`, and forwards the original bytes once per subject the event
concerns (`routing.route`) to that subject kind's own topic, keyed by the subject. One agent
per subject kind consumes its topic, so every event of a subject reaches the partition that
holds the subject's state, whatever partitioner produced it. There each event waits for its
turn in event-time order (`core.ordering`, fed by `progress` reports) and is then applied
to its subject's state; only then is it acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from faust.streams import _current_event

from schemas.alerts import Alert, SubjectKind
from schemas.codec import DecodeError, encode
from services.detector.core.engine import STATE_TYPES, Outcome
from services.detector.core.intake import (
    INPUT_TOPICS,
    Admitted,
    InputTopic,
    admit,
    dead_letter,
    decode_admitted,
)
from services.detector.core.ordering import EventOrder
from services.detector.core.routing import SUBJECT_KINDS, Address, Stream, route
from services.detector.core.state import SubjectState
from services.detector.core.watermark import event_time, origin_of
from services.detector.headers import (
    EXPIRE,
    GENERATION_HEADER,
    PARTITION_HEADER,
    PROGRESS,
    RECEIVED_HEADER,
    STREAM_HEADER,
    TOPIC_HEADER,
)
from services.detector.progress import decode_report

if TYPE_CHECKING:
    from services.detector.app import Detector

log = logging.getLogger(__name__)

MAX_HOLD_S = 30.0
"""The longest a subject event waits for its turn in event-time order (`core.ordering`):
for a reader gone, or far behind. A worker taking input partitions over after a rebalance
reads them from their last commit, and on a busy worker that backlog takes more than a few
seconds: with 5 s, events were let go before older ones of that backlog (2,700 of 30,000
in one rebalance run here, and an alert with another trigger than replay's)."""
CAUGHT_UP_SLACK_MS = 500
"""How much later than an event its reader must have fetched a high watermark to count as
past it when caught up (`core.ordering`): the time from a producer stamping a message to
the broker appending it, plus from the broker answering a fetch to the reader taking the
answer. Milliseconds when all is well; a loaded machine stretches both."""
RELEASE_INTERVAL_S = 0.1
"""How often held events are checked for having waited `MAX_HOLD_S`."""


@dataclass(frozen=True, slots=True)
class Pending:
    """A subject event waiting for its turn: the Faust event, acknowledged once it has been
    applied, and what it is to the subject."""

    received: Any
    event: Admitted
    topic: InputTopic
    partition: int
    stream: Stream
    written: int
    """When the event was written to its input topic (epoch ms)."""


def register(detector: Detector) -> None:
    """Register the ingest agent and one agent per subject kind on the detector's app, and
    the release of held subject events."""
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
            detector.input_progress.handled(message.tp, message.offset)
            detector.metrics.events.labels(topic, "ok" if admitted else "invalid").inc()

    for kind in SUBJECT_KINDS:
        _register_subject_agent(detector, kind)

    async def release_held() -> None:
        """Apply held events that waited too long. When the partitions are about to be
        given up, send every held event to the end of its partition instead: a rebalance
        or a shutdown waits for every event handed to an agent to be acknowledged, and
        applying them now could apply them before older events still unread. A loop of
        its own, not a Faust timer: timers end as soon as the app begins to stop, before
        that wait."""
        while True:
            await asyncio.sleep(RELEASE_INTERVAL_S)
            give_up = app.rebalancing or app.should_stop
            now = time.monotonic()
            try:
                for (kind, _), order in list(detector.orders.items()):
                    if order:
                        if give_up:
                            await _requeue(detector, kind, order.drain())
                        else:
                            await release(detector, kind, order.ready(now))
            except Exception:
                log.exception("failed to release held subject events; trying again")
            detector.metrics.held.set(sum(len(order) for order in detector.orders.values()))

    app.task(release_held)

    async def forget_partitions(app: Any, revoked: Any, **kwargs: Any) -> None:
        """A partition handed to another worker is tracked afresh if it comes back."""
        for tp in revoked:
            kind = detector.subject_kind(tp.topic)
            if kind is not None:
                detector.watermarks.pop((kind, tp.partition), None)
                detector.orders.pop((kind, tp.partition), None)

    app.on_partitions_revoked.connect(cast(Any, forget_partitions))


def _register_subject_agent(detector: Detector, kind: SubjectKind) -> None:
    @detector.app.agent(detector.subject_events[kind], name=f"{kind}-subjects")
    async def subjects(stream: Any) -> None:
        processing = detector.metrics.processing.labels(kind)
        async for received in stream.noack().events():
            with processing.time():
                await _receive(detector, kind, received)


async def _guarded(detector: Detector, message: Any, work: Coroutine[Any, Any, None]) -> bool:
    """Run one message's work; whatever goes wrong, the message ends in `dead-letters` with
    the reason, and the agent goes on with the next one (Faust would otherwise restart the
    agent and skip the message without a trace). Returns whether the work succeeded."""
    try:
        await work
    except DecodeError as exc:
        await _dead_letter(detector, message, exc)
    except Exception as exc:
        await _dead_letter(detector, message, _internal_error(message, exc))
    else:
        return True
    return False


def _internal_error(message: Any, exc: Exception) -> DecodeError:
    log.error(
        "failed to process %s[%d]@%d",
        message.topic,
        message.partition,
        message.offset,
        exc_info=exc,
    )
    return DecodeError("internal_error", repr(exc))


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
                RECEIVED_HEADER: str(_timestamp_ms(message)).encode(),
            },
        )
    at = event_time(admitted)
    if at is not None:
        detector.input_progress.forwarded(message.tp, at)


async def _receive(detector: Detector, kind: SubjectKind, received: Any) -> None:
    """Take one subject-topic message: a progress report, an expiry request, or an event to
    hold for its turn; then apply what is due."""
    message = received.message
    now = time.monotonic()
    headers = {name: value.decode() for name, value in (message.headers or ())}
    order = detector.order(kind, message.partition)
    order.read(message.offset)
    due: list[Pending] = []
    marker = headers.get(STREAM_HEADER)
    if marker == PROGRESS:
        await _guarded(detector, message, _take_report(order, headers, message))
        received.ack()
    elif marker == EXPIRE:
        await _guarded(detector, message, _expire(detector, kind, message))
        received.ack()
    else:
        try:
            pending = _pending(received, headers)
        except Exception as exc:
            error = exc if isinstance(exc, DecodeError) else _internal_error(message, exc)
            await _dead_letter(detector, message, error)
            received.ack()
        else:
            at = event_time(pending.event)
            if at is None:  # a watchlist record: no time to wait for
                due.append(pending)
            else:
                origin = origin_of(pending.topic, pending.partition)
                order.add(pending, origin, at, pending.written, now)
    await release(detector, kind, [*order.ready(now), *due])


async def _take_report(order: EventOrder[Pending], headers: dict[str, str], message: Any) -> None:
    order.report(int(headers[GENERATION_HEADER]), decode_report(message.value))


def _timestamp_ms(message: Any) -> int:
    """A Kafka message's timestamp, epoch ms (Faust gives seconds)."""
    return round(float(message.timestamp) * 1000)


def _written(message: Any, headers: dict[str, str]) -> int:
    """When the event was written to its input topic (epoch ms)."""
    stamp = headers.get(RECEIVED_HEADER)  # absent on records of older versions
    return _timestamp_ms(message) if stamp is None else int(stamp)


def _pending(received: Any, headers: dict[str, str]) -> Pending:
    message = received.message
    topic = cast(InputTopic, headers[TOPIC_HEADER])
    return Pending(
        received,
        decode_admitted(topic, message.key, message.value),
        topic,
        int(headers[PARTITION_HEADER]),
        cast(Stream, headers[STREAM_HEADER]),
        _written(message, headers),
    )


async def release(detector: Detector, kind: SubjectKind, due: list[Pending]) -> None:
    """Apply events in the order given, then publish what they caused and acknowledge them.
    All are applied before anything is published, so that the order holds when the agent
    and the release loop release events of one partition at the same time."""
    outcomes = [(pending, _applied(detector, kind, pending)) for pending in due]
    for pending, outcome in outcomes:
        message = pending.received.message
        if isinstance(outcome, DecodeError):
            await _dead_letter(detector, message, outcome)
        else:
            await _guarded(detector, message, _publish_outcome(detector, pending, outcome))
        pending.received.ack()


async def _requeue(detector: Detector, kind: SubjectKind, held: list[Pending]) -> None:
    """Send held events again to the end of their partition, and acknowledge them: the
    partition's offsets can be committed past them and past the events applied after them
    (so none of those is applied again). They now stand behind later events of their own
    input partitions, so whoever holds the partition next applies nothing before it has
    read up to the partition's end as it found it (`EventOrder.read`), then puts them in
    order with the rest. Should the worker die before that commit, they are read twice and
    the second is recognised as a duplicate."""
    for pending in held:
        message = pending.received.message
        await detector.subject_events[kind].send(
            key=message.key,
            value=message.value,
            partition=message.partition,
            headers=message.headers,
        )
        pending.received.ack()
    detector.metrics.released.labels("requeued").inc(len(held))


def _applied(detector: Detector, kind: SubjectKind, pending: Pending) -> Outcome | DecodeError:
    """Apply one event as its own Faust event: table writes go to the partition of the
    current event, and the release loop has none."""
    token = _current_event.set(weakref.ref(pending.received))
    try:
        return _apply(detector, kind, pending)
    except Exception as exc:
        return _internal_error(pending.received.message, exc)
    finally:
        _current_event.reset(token)


def _apply(detector: Detector, kind: SubjectKind, pending: Pending) -> Outcome:
    """Apply one re-keyed event to its subject's state."""
    message = pending.received.message
    key: bytes = message.key
    table = detector.tables[kind]
    stored = table.get(key)
    state = None if stored is None else STATE_TYPES[kind].from_json(stored)
    watermark = detector.watermark(kind, message.partition)
    watermark.observe(pending.event, pending.partition)
    outcome = detector.engine.apply(
        Address(kind, key.decode(), pending.stream),
        state,
        pending.event,
        datetime.now(UTC),
        origin=origin_of(pending.topic, pending.partition),
        watermark=watermark.value(kind),
    )
    if outcome.duplicate or outcome.late:
        label = "duplicate" if outcome.duplicate else "late"
        detector.metrics.events.labels(pending.topic, label).inc()
    if not outcome.duplicate:
        encoded = None if outcome.state is None else outcome.state.to_json()
        _store(table, key, encoded, existed=stored is not None)
    return outcome


async def _publish_outcome(detector: Detector, pending: Pending, outcome: Outcome) -> None:
    """Publish the alerts and watchlist entries an event caused."""
    received = pending.written / 1000
    for alert in outcome.alerts:
        await _publish(detector, alert)
        detector.metrics.latency.observe(max(0.0, time.time() - received))
    for listing in outcome.listings:
        await detector.watchlist.send(key=listing.identity.encode(), value=encode(listing))


async def _expire(detector: Detector, kind: SubjectKind, message: Any) -> None:
    """Expire a quiet subject against its partition's watermark (`sweeper`)."""
    key: bytes = message.key
    table = detector.tables[kind]
    stored = table.get(key)
    if stored is not None:
        quiet = STATE_TYPES[kind].from_json(stored)
        watermark = detector.watermark(kind, message.partition).value(kind)
        changed, left = expiry_of(detector, kind, quiet, stored, watermark)
        if changed:
            _store(table, key, left, existed=True)


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
