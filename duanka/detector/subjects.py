"""The second stage: put each subject partition's events in order, apply them, publish.

One agent per subject kind consumes its topic, so every event of a subject reaches the
partition that holds the subject's state. A message there is a bundle of events, a progress
report or an expiry request (`HANDLERS`). Each event waits for its turn in event-time order
(`core.ordering`, fed by `progress` reports); the events let go together are applied as one
batch of state (`state_store`), what they cause is published, and a bundle is acknowledged once
every event in it has been.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from faust.types import TP

from duanka._native import Subjects
from duanka.detector import letters
from duanka.detector.bundle import BUNDLE, Forward, decode_bundle, legacy_forward, written_ms
from duanka.detector.core.clock import to_us
from duanka.detector.core.disposal import Raised, derive, raised
from duanka.detector.core.ordering import EventOrder, Key
from duanka.detector.core.subject_memory import Applied, expire_held, native_apply
from duanka.detector.core.ties import encode_ties, ties_of
from duanka.detector.core.watermark import CommittedWatermark, origin_of
from duanka.detector.headers import (
    EXPIRE,
    FRONTIER,
    LIFTED_OWN,
    LIFTED_OWN_HEADER,
    PROGRESS,
    STREAM_HEADER,
    TIES_HEADER,
)
from duanka.detector.partitions import Delivery, Pending, hold, subject_kind
from duanka.detector.patches import commit_head
from duanka.detector.progress import decode_report, encode_frontier
from duanka.detector.state_store import Batch, SubjectStates
from duanka.schemas.alerts import Alert, SubjectKind
from duanka.schemas.codec import DecodeError, encode
from duanka.schemas.dispositions import Disposition
from duanka.topics import subject_events_topic

if TYPE_CHECKING:
    from duanka.detector.context import Detector

log = logging.getLogger(__name__)

GIVE_UP_INTERVAL_S = 0.1
"""How often the partitions are checked for being given up (`give_up_held`)."""


async def run(detector: Detector, kind: SubjectKind, stream: Any) -> None:
    """The agent of one subject kind: its topic's messages, one at a time."""
    processing = detector.metrics.processing.labels(kind)
    async for received in stream.noack().events():
        with processing.time():
            await _receive(detector, kind, received)


async def give_up_held(detector: Detector) -> None:
    """When the partitions are about to be given up (`SubjectPartitions.giving_up`), drop
    every held event (`give_up`). A loop of its own, not a Faust timer: timers end as soon
    as the app begins to stop, before the wait for acknowledgements."""
    orders = detector.partitions.orders
    while True:
        await asyncio.sleep(GIVE_UP_INTERVAL_S)
        if detector.partitions.giving_up():
            for (kind, partition), order in list(orders.items()):
                if order:
                    give_up(detector, kind, partition, order.drain())
        detector.metrics.held.set(sum(len(order) for order in orders.values()))


def give_up(detector: Detector, kind: SubjectKind, partition: int, held: list[Pending]) -> None:
    """Acknowledge held events without applying them, and commit their partition no further
    than the first of them, so that whoever holds it next reads them again where they were
    written, in their order. A rebalance or a shutdown waits for every message handed to
    an agent to be acknowledged, and applying them now could apply them before older
    events still unread."""
    tp = TP(subject_events_topic(detector.settings, kind), partition)
    first = min(pending.delivery.event.message.offset for pending in held)
    commit_head.withhold(detector.app.consumer, tp, first)
    for pending in held:
        pending.delivery.done()
    detector.metrics.released.labels("given_up").inc(len(held))


async def forget_partitions(detector: Detector, revoked: Any) -> None:
    """Store every state written so far (`SubjectStates.settle`), then track revoked
    partitions afresh if they come back."""
    given_up: dict[SubjectKind, list[int]] = {kind: [] for kind in detector.states}
    for tp in revoked:
        kind = subject_kind(detector.settings, tp.topic)
        if kind is not None:
            given_up[kind].append(tp.partition)
    for kind, states in detector.states.items():
        async with states.lock:
            await states.settle()
            for partition in given_up[kind]:
                detector.partitions.forget(kind, partition)
                states.forget(partition)
    detector.partitions.forgotten()


@dataclass(frozen=True, slots=True)
class Arrival:
    """A subject-topic message as Faust delivered it, its headers, and the order of its
    partition."""

    received: Any
    headers: dict[str, str]
    order: EventOrder[Pending]


Handler = Callable[["Detector", SubjectKind, Arrival], Awaitable[None]]
"""What takes one kind of subject-topic message."""


async def _receive(detector: Detector, kind: SubjectKind, received: Any) -> None:
    """Take one subject-topic message by its kind (`HANDLERS`), then apply what is due."""
    message = received.message
    headers = {name: value.decode() for name, value in (message.headers or ())}
    order = detector.partitions.order(kind, message.partition)
    order.read(message.offset)
    handler = HANDLERS.get(headers.get(STREAM_HEADER), _take_legacy)
    await handler(detector, kind, Arrival(received, headers, order))
    if not detector.partitions.giving_up():  # else `give_up_held` drops them
        await release(detector, kind, message.partition, order.ready_placed())
        await _answer(detector, kind, message.partition)


async def _answer(detector: Detector, kind: SubjectKind, partition: int) -> None:
    """Tell the case linker which dispositions it awaits the partition has reached, after
    the alerts of everything applied before them (`core.disposition_gate`)."""
    reached = detector.partitions.answers(kind, partition)
    if reached:
        await detector.case_alerts.send(
            value=encode_frontier(kind, partition, reached),
            headers={STREAM_HEADER: FRONTIER.encode()},
        )


async def _take_report(detector: Detector, kind: SubjectKind, arrival: Arrival) -> None:
    """A progress report: how far a worker has forwarded each input partition it reads."""
    message = arrival.received.message

    async def take() -> None:
        report = decode_report(message.value)
        arrival.order.report(report.origins, report.recorded, report.through)
        detector.partitions.await_answers(kind, message.partition, report.awaiting)

    await letters.guarded(detector, message, take())
    arrival.received.ack()


async def _take_expiry(detector: Detector, kind: SubjectKind, arrival: Arrival) -> None:
    """An expiry request for quiet subjects (`sweeper`)."""
    message = arrival.received.message
    await letters.guarded(detector, message, _expire(detector, kind, message))
    arrival.received.ack()


def expiry_keys(key: bytes | None, value: bytes | None) -> list[bytes]:
    """The subjects an expiry request names: a JSON list of ids in its value, or (as
    versions before batched requests wrote it) the one subject of its key. Raises
    `DecodeError` if it names none that way."""
    if key is not None:
        return [key]
    try:
        ids = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        raise DecodeError("invalid", f"not an expiry request: {exc}") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise DecodeError("invalid", "not an expiry request: not a list of subject ids")
    return [i.encode() for i in ids]


async def _take_bundle(detector: Detector, kind: SubjectKind, arrival: Arrival) -> None:
    """A bundle of events: each held for its turn."""
    await _hold(detector, arrival, lambda message: decode_bundle(message.value))


async def _take_legacy(detector: Detector, kind: SubjectKind, arrival: Arrival) -> None:
    """One event, as versions before bundles wrote it: held for its turn."""

    def forwards(message: Any) -> list[Forward]:
        headers = arrival.headers
        return [legacy_forward(message.key, message.value, headers, written_ms(message))]

    await _hold(detector, arrival, forwards)


HANDLERS: dict[str | None, Handler] = {
    PROGRESS: _take_report,
    EXPIRE: _take_expiry,
    BUNDLE: _take_bundle,
}
"""The subject-topic messages by their `STREAM_HEADER`; any other is one event written by
a version before bundles."""


async def _hold(
    detector: Detector, arrival: Arrival, forwards_of: Callable[[Any], list[Forward]]
) -> None:
    """Hold a message's events for their turn; a message whose events cannot be read is
    dead-lettered."""
    received, order = arrival.received, arrival.order
    message = received.message
    try:
        forwards = forwards_of(message)
    except Exception as exc:
        await letters.send(detector, message, letters.error_of(message, exc))
        received.ack()
        return
    delivery = Delivery(received, len(forwards))
    for forward in forwards:
        hold(order, Pending(delivery, forward), forward)


async def release(
    detector: Detector, kind: SubjectKind, partition: int, due: list[tuple[Key, Pending]]
) -> None:
    """Apply events of one subject-topic partition in the order given, each at its place
    in the order, as one batch of state (`state_store`); publish what they caused, queue
    the states they changed on the changelog, and acknowledge them. The batch holds its
    kind's lock until its changelog records are queued, so that the agent and the release
    loop, releasing events at the same time, queue them in the order they were applied."""
    if not due:
        return
    states = detector.states[kind]
    async with states.lock:
        batch = states.batch(partition)
        watermark = detector.partitions.watermark(kind, partition)
        caused = [
            (pending, _applied(detector, kind, batch, watermark, place, pending))
            for place, pending in due
        ]
        for pending, outcome in caused:
            message = pending.delivery.event.message
            if isinstance(outcome, DecodeError):
                await letters.send(detector, message, outcome, pending.forward)
            elif outcome is not None:
                work = _publish_caused(detector, pending, outcome)
                await letters.guarded(detector, message, work, pending.forward)
        await _write(detector, states, batch)
    for _, pending in due:
        pending.delivery.done()


async def _write(detector: Detector, states: SubjectStates, batch: Batch) -> None:
    """Queue a batch's changed states on the changelog. If that fails, the worker stops
    before the batch's input can be committed: read again, it writes them again."""
    try:
        await states.write(batch)
    except Exception as exc:
        log.critical("failed to queue %s changelog records; stopping", states.kind, exc_info=exc)
        await detector.app.crash(exc)
        raise


@dataclass(frozen=True, slots=True)
class Caused:
    """What one event applied at its subject has to publish."""

    applied: Applied
    ties: list[bytes]
    """Per alert, what its evidence ties together (`core.ties`), read from the subject's
    state right after the event."""


def _applied(
    detector: Detector,
    kind: SubjectKind,
    batch: Batch,
    watermark: CommittedWatermark,
    place: Key,
    pending: Pending,
) -> Caused | DecodeError | None:
    try:
        return _apply(detector, kind, batch, watermark, place, pending)
    except Exception as exc:
        return letters.internal_error(pending.delivery.event.message, exc)


def _apply(
    detector: Detector,
    kind: SubjectKind,
    batch: Batch,
    watermark: CommittedWatermark,
    place: Key,
    pending: Pending,
) -> Caused | None:
    """Apply one re-keyed event, at `place` in the partition's order, to its subject's
    state in the batch; a disposition offered, to its alert's subject if this partition
    raised the alert before (`offered`); None if it does nothing. Every alert it raises
    is kept (`core.disposal`)."""
    forward = offered(batch.raised, pending.forward, place)
    if forward is None:
        return None
    key = forward.key
    held = batch.load(key)
    offset = pending.delivery.event.message.offset
    applied = apply_forward(batch.subjects, kind, forward, offset, watermark, datetime.now(UTC))
    if applied.duplicate or applied.late:
        label = "duplicate" if applied.duplicate else "late"
        detector.metrics.events.labels(forward.topic, label).inc()
    if not applied.duplicate and (held or key.decode() in batch.subjects):
        batch.changed(key)
    ties = []
    if applied.alerts:
        state = batch.state(key)
        ties = [encode_ties(ties_of(alert, state)) for alert in applied.alerts]
    for alert in applied.alerts:
        kept = raised(alert, place)
        if kept is not None:
            batch.keep_raised(alert.alert_id, kept)
    return Caused(applied, ties)


def offered(
    raised_here: Callable[[str], Raised | None], forward: Forward, place: Key
) -> Forward | None:
    """The event `forward` brings to a subject at `place` in the partition's order. A
    disposition the case linker offers to every partition of the kind it can act on
    (`case_links`) brings what it derives to its alert's subject, from where it was read,
    if this partition raised the alert (`raised_here`) before that place, and nothing
    otherwise: replay's linker decides the same at the disposition's line (one decided
    before the events that raised its alert does nothing: `docs/limitations.md`)."""
    if forward.topic != "dispositions":
        return forward
    disposition = forward.event
    if not isinstance(disposition, Disposition):
        return forward
    alert = raised_here(disposition.alert_id)
    if alert is None or alert.place is None or not alert.place < place:
        return None
    events = derive(alert, disposition)
    if not events:
        return None
    return forward.to(alert.subject.encode(), events[0])  # its stream, as offered


def apply_forward(
    subjects: Subjects,
    kind: SubjectKind,
    forward: Forward,
    offset: int,
    watermark: CommittedWatermark,
    now: datetime,
) -> Applied:
    """Apply a forwarded event, brought by the message at `offset` of its subject
    partition, to its subject's state held in the native `subjects`, the partition's
    `watermark` counting it: where it was read (its input partition and offset) goes
    with it."""
    watermark.observe(forward.topic, forward.event_time, forward.partition, offset)
    return native_apply(
        subjects,
        forward.key.decode(),
        forward.stream,
        orjson.dumps(forward.values),
        origin_of(forward.topic, forward.partition),
        None if forward.offset < 0 else forward.offset,
        watermark.value(kind),
        to_us(now),
    )


async def _publish_caused(detector: Detector, pending: Pending, caused: Caused) -> None:
    """Publish the alerts, watchlist entries and tombstones an event caused."""
    received = pending.forward.written / 1000
    applied = caused.applied
    for alert, ties in zip(applied.alerts, caused.ties, strict=True):
        await _publish(detector, alert, ties)
        detector.metrics.latency.observe(max(0.0, time.time() - received))
    for listing in applied.listings:
        await detector.watchlist.send(key=listing.identity.encode(), value=encode(listing))
    for identity in applied.lifts:
        await detector.watchlist.send(
            key=identity.encode(), value=None, headers={LIFTED_OWN_HEADER: LIFTED_OWN}
        )


async def _expire(detector: Detector, kind: SubjectKind, message: Any) -> None:
    """Expire quiet subjects against their partition's watermark (`sweeper`), as one batch."""
    keys = expiry_keys(message.key, message.value)
    states = detector.states[kind]
    async with states.lock:
        batch = states.batch(message.partition)
        watermark = detector.partitions.watermark(kind, message.partition).value(kind)
        if watermark is not None:
            for key in keys:
                if batch.load(key) and expire_held(batch.subjects, key.decode(), watermark):
                    batch.changed(key)
        await _write(detector, states, batch)


async def _publish(detector: Detector, alert: Alert, ties: bytes) -> None:
    """To `alerts`, to `alerts.<institution>` for every institution in its actions, and to
    the case linker (`linking`) with what its evidence ties together (`core.ties`)."""
    value = encode(alert)
    key = alert.subject.id.encode()
    await detector.alerts.send(key=key, value=value)
    await detector.case_alerts.send(
        key=alert.alert_id.encode(), value=value, headers={TIES_HEADER: ties}
    )
    institutions = sorted({a.institution for a in alert.actions if a.institution is not None})
    for institution in institutions:
        topic = await detector.institution_alerts(institution)
        await topic.send(key=key, value=value)
    detector.metrics.alerts.labels(alert.rule, alert.severity).inc()
