"""Agents: decode and admit input, re-key it by subject, apply the engine, publish results.

Two stages. `ingest` reads the input topics as producers partitioned them, a batch at a
time, rejects bad messages to `dead-letters`, and forwards the original bytes once per
subject the event concerns (`routing.route`) to that subject kind's own topic, on the
partition of the subject, in bundles (`bundle`). One agent per subject kind consumes its
topic, so every event of a subject reaches the partition that holds the subject's state,
whatever partitioner produced it. There each event waits for its turn in event-time order
(`core.ordering`, fed by `progress` reports) and is then applied to its subject's state; a
bundle is acknowledged once every event in it has been.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from schemas.alerts import Alert, SubjectKind
from schemas.codec import DecodeError, encode
from services.detector.bundle import (
    BUNDLE,
    Forward,
    decode_bundle,
    encode_bundles,
    legacy_forward,
    partition_of,
)
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
from services.detector.core.routing import SUBJECT_KINDS, Address, route
from services.detector.core.state import SubjectState
from services.detector.core.watermark import event_time, origin_of
from services.detector.headers import EXPIRE, GENERATION_HEADER, PROGRESS, STREAM_HEADER
from services.detector.patches import current
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
WATCHLIST_LEAD_MS = 500
"""How much earlier than its record timestamp a watchlist record counts as written, in an
identity's order (`core.ordering`). One producer per input topic, each fed from one stream
in order, stamped tombstones up to 300 ms after activations written after them here, in a
backlog loaded at full speed; a worker's caught-up slack holds each event about as long."""
RELEASE_INTERVAL_S = 0.1
"""How often held events are checked for having waited `MAX_HOLD_S`."""
FORWARD_BATCH = 1000
"""The most input messages forwarded together: per subject-topic partition, their events
go in one bundle."""
FORWARD_WITHIN_S = 0.02
"""The longest an input message waits for its batch to fill."""


class Delivery:
    """A subject-topic message as Faust delivered it, acknowledged once each event it
    brought has been applied, dead-lettered or sent on."""

    __slots__ = ("event", "left")

    def __init__(self, event: Any, events: int) -> None:
        self.event = event
        self.left = events
        if events == 0:
            event.ack()

    def done(self) -> None:
        """One of its events is finished with."""
        self.left -= 1
        if self.left == 0:
            self.event.ack()


@dataclass(frozen=True, slots=True)
class Pending:
    """A subject event waiting for its turn: the message it came in, what it is to the
    subject, and the event itself."""

    delivery: Delivery
    forward: Forward
    event: Admitted


def register(detector: Detector) -> None:
    """Register the ingest agent and one agent per subject kind on the detector's app, and
    the release of held subject events."""
    app, settings = detector.app, detector.settings
    topic_kinds: dict[str, InputTopic] = {settings.topic(t): t for t in INPUT_TOPICS}

    @app.agent(detector.inputs, name="ingest")
    async def ingest(stream: Any) -> None:
        processing = detector.metrics.processing.labels("ingest")
        async for events in stream.take_events(FORWARD_BATCH, within=FORWARD_WITHIN_S):
            with processing.time():
                await _ingest(detector, topic_kinds, [event.message for event in events])

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
                for (kind, partition), order in list(detector.orders.items()):
                    if order:
                        if give_up:
                            await _requeue(detector, kind, partition, order.drain())
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


async def _guarded(
    detector: Detector,
    message: Any,
    work: Coroutine[Any, Any, None],
    forward: Forward | None = None,
) -> None:
    """Run one message's work (or one forwarded event's, of a bundle); whatever goes wrong,
    it ends in `dead-letters` with the reason, and the agent goes on with the next one
    (Faust would otherwise restart the agent and skip the message without a trace)."""
    try:
        await work
    except Exception as exc:
        await _dead_letter(detector, message, _error_of(message, exc), forward)


def _error_of(message: Any, exc: Exception) -> DecodeError:
    """A rejection as it is, anything else as an internal error."""
    return exc if isinstance(exc, DecodeError) else _internal_error(message, exc)


def _internal_error(message: Any, exc: Exception) -> DecodeError:
    log.error(
        "failed to process %s[%d]@%d",
        message.topic,
        message.partition,
        message.offset,
        exc_info=exc,
    )
    return DecodeError("internal_error", repr(exc))


async def _ingest(
    detector: Detector, topic_kinds: dict[str, InputTopic], messages: list[Any]
) -> None:
    """Admit a batch of input messages and forward each to every subject it concerns, in
    one bundle per subject-topic partition; what is rejected goes to `dead-letters`."""
    bundles: dict[tuple[SubjectKind, int], list[Forward]] = {}
    forwarded: list[tuple[Any, InputTopic, Admitted, int]] = []
    for message in messages:
        topic = topic_kinds[message.topic]
        try:
            admitted = admit(
                topic,
                message.key,
                message.value,
                datetime.now(UTC),
                detector.settings.max_clock_skew,
            )
            written = _timestamp_ms(message)
            forwards = [
                _forward(detector, address, topic, message.partition, written, message.value)
                for address in route(admitted)
            ]
        except Exception as exc:
            await _reject(detector, message, topic, exc)
        else:
            for kind, partition, forward in forwards:
                bundles.setdefault((kind, partition), []).append(forward)
            forwarded.append((message, topic, admitted, written))
    try:
        await _send_bundles(detector, bundles)
    except Exception as exc:
        for message, topic, _, _ in forwarded:
            await _reject(detector, message, topic, exc)
        forwarded = []
    for message, topic, admitted, written in forwarded:
        detector.metrics.events.labels(topic, "ok").inc()
        detector.input_progress.forwarded(message.tp, event_time(admitted), written)
    for message in messages:
        detector.input_progress.handled(message.tp, message.offset)


def _forward(
    detector: Detector,
    address: Address,
    topic: InputTopic,
    partition: int,
    written: int,
    value: bytes | None,
) -> tuple[SubjectKind, int, Forward]:
    """An input message forwarded to one subject, and the subject-topic partition it goes
    to."""
    key = address.id.encode()
    forward = Forward(key, address.stream, topic, partition, written, value)
    return address.kind, partition_of(key, detector.settings.partitions), forward


async def _send_bundles(
    detector: Detector, bundles: dict[tuple[SubjectKind, int], list[Forward]]
) -> None:
    for (kind, partition), forwards in bundles.items():
        for value in encode_bundles(forwards):
            await detector.subject_events[kind].send(
                value=value, partition=partition, headers={STREAM_HEADER: BUNDLE.encode()}
            )


async def _reject(detector: Detector, message: Any, topic: InputTopic, exc: Exception) -> None:
    await _dead_letter(detector, message, _error_of(message, exc))
    detector.metrics.events.labels(topic, "invalid").inc()


async def _receive(detector: Detector, kind: SubjectKind, received: Any) -> None:
    """Take one subject-topic message: a progress report, an expiry request, or a bundle of
    events (one event, written by an earlier version) to hold for their turn; then apply
    what is due."""
    message = received.message
    now = time.monotonic()
    headers = {name: value.decode() for name, value in (message.headers or ())}
    order = detector.order(kind, message.partition)
    order.read(message.offset)
    marker = headers.get(STREAM_HEADER)
    if marker == PROGRESS:
        await _guarded(detector, message, _take_report(order, headers, message))
        received.ack()
    elif marker == EXPIRE:
        await _guarded(detector, message, _expire(detector, kind, message))
        received.ack()
    else:
        try:
            if marker == BUNDLE:
                forwards = decode_bundle(message.value)
            else:
                forwards = [
                    legacy_forward(message.key, message.value, headers, _timestamp_ms(message))
                ]
        except Exception as exc:
            await _dead_letter(detector, message, _error_of(message, exc))
            received.ack()
        else:
            delivery = Delivery(received, len(forwards))
            for forward in forwards:
                try:
                    event = decode_admitted(forward.topic, forward.key, forward.value)
                except Exception as exc:
                    await _dead_letter(detector, message, _error_of(message, exc), forward)
                    delivery.done()
                    continue
                pending = Pending(delivery, forward, event)
                origin = origin_of(forward.topic, forward.partition)
                at = event_time(event)
                if at is None:  # a watchlist record: in order by when it was written
                    order.add_record(pending, origin, forward.written, now)
                else:
                    order.add(pending, origin, at, forward.written, now)
    await release(detector, kind, order.ready(now))


async def _take_report(order: EventOrder[Pending], headers: dict[str, str], message: Any) -> None:
    order.report(int(headers[GENERATION_HEADER]), decode_report(message.value))


def _timestamp_ms(message: Any) -> int:
    """A Kafka message's timestamp, epoch ms (Faust gives seconds)."""
    return round(float(message.timestamp) * 1000)


async def release(detector: Detector, kind: SubjectKind, due: list[Pending]) -> None:
    """Apply events in the order given, then publish what they caused and acknowledge them.
    All are applied before anything is published, so that the order holds when the agent
    and the release loop release events of one partition at the same time."""
    outcomes = [(pending, _applied(detector, kind, pending)) for pending in due]
    for pending, outcome in outcomes:
        message = pending.delivery.event.message
        if isinstance(outcome, DecodeError):
            await _dead_letter(detector, message, outcome, pending.forward)
        else:
            work = _publish_outcome(detector, pending, outcome)
            await _guarded(detector, message, work, pending.forward)
        pending.delivery.done()


async def _requeue(
    detector: Detector, kind: SubjectKind, partition: int, held: list[Pending]
) -> None:
    """Send held events again to the end of their partition, and acknowledge them: the
    partition's offsets can be committed past them and past the events applied after them
    (so none of those is applied again). They now stand behind later events of their own
    input partitions, so whoever holds the partition next applies nothing before it has
    read up to the partition's end as it found it (`EventOrder.read`), then puts them in
    order with the rest. Should the worker die before that commit, they are read twice and
    the second is recognised as a duplicate."""
    await _send_bundles(detector, {(kind, partition): [pending.forward for pending in held]})
    for pending in held:
        pending.delivery.done()
    detector.metrics.released.labels("requeued").inc(len(held))


def _applied(detector: Detector, kind: SubjectKind, pending: Pending) -> Outcome | DecodeError:
    """Apply one event as its own Faust event: table writes go to the partition of the
    current event, and the release loop has none."""
    try:
        with current(pending.delivery.event):
            return _apply(detector, kind, pending)
    except Exception as exc:
        return _internal_error(pending.delivery.event.message, exc)


def _apply(detector: Detector, kind: SubjectKind, pending: Pending) -> Outcome:
    """Apply one re-keyed event to its subject's state."""
    forward = pending.forward
    key = forward.key
    table = detector.tables[kind]
    stored = table.get(key)
    state = None if stored is None else STATE_TYPES[kind].from_json(stored)
    watermark = detector.watermark(kind, pending.delivery.event.message.partition)
    watermark.observe(pending.event, forward.partition)
    outcome = detector.engine.apply(
        Address(kind, key.decode(), forward.stream),
        state,
        pending.event,
        datetime.now(UTC),
        origin=origin_of(forward.topic, forward.partition),
        watermark=watermark.value(kind),
    )
    if outcome.duplicate or outcome.late:
        label = "duplicate" if outcome.duplicate else "late"
        detector.metrics.events.labels(forward.topic, label).inc()
    if not outcome.duplicate:
        encoded = None if outcome.state is None else outcome.state.to_json()
        _store(table, key, encoded, existed=stored is not None)
    return outcome


async def _publish_outcome(detector: Detector, pending: Pending, outcome: Outcome) -> None:
    """Publish the alerts and watchlist entries an event caused."""
    received = pending.forward.written / 1000
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


async def _dead_letter(
    detector: Detector, message: Any, error: DecodeError, forward: Forward | None = None
) -> None:
    """Dead-letter a message, or one forwarded event of a bundle (with the bundle's
    position, and the event's subject and original bytes)."""
    key, raw = (message.key, message.value) if forward is None else (forward.key, forward.value)
    letter = dead_letter(
        message.topic, message.partition, message.offset, key, raw, error, datetime.now(UTC)
    )
    log.info(
        "dead letter from %s[%d]@%d: %s", message.topic, message.partition, message.offset, error
    )
    detector.metrics.dead_letters.labels(error.reason).inc()
    await detector.dead_letters.send(key=key, value=encode(letter))
