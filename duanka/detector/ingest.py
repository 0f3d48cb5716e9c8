"""The first stage: admit input, re-key it by subject, forward it.

The ingest agent reads the input topics as producers partitioned them, a batch at a time
(`FORWARD_BATCH`). It admits each message once (`core.intake`), rejects what is bad to
`dead-letters`, and forwards each event, in the compact form it was validated into, once
per subject it concerns (`core.routing`) to that subject kind's topic, on the partition of
the subject, in one bundle per subject-topic partition (`bundle`). Dispositions are about
alerts: they go to the case linker (`linking`), with where they were read. Markers, which
workers write into quiet input partitions (`progress`), only move on how far their
partition has been read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from duanka.detector import letters
from duanka.detector.bundle import BUNDLE, Forward, encode_bundles, partition_of, written_ms
from duanka.detector.core.clock import to_ms
from duanka.detector.core.compact import compact
from duanka.detector.core.intake import (
    INPUT_TOPICS,
    Admitted,
    InputTopic,
    WatchlistUpdate,
    admit,
)
from duanka.detector.core.routing import route
from duanka.detector.core.watermark import event_time
from duanka.detector.headers import (
    DISPOSITION,
    LIFTED_OWN,
    LIFTED_OWN_HEADER,
    MARKER,
    OFFSET_HEADER,
    PARTITION_HEADER,
    RECEIVED_HEADER,
    STREAM_HEADER,
    TOPIC_HEADER,
)
from duanka.schemas.alerts import SubjectKind
from duanka.schemas.codec import encode
from duanka.schemas.dispositions import Disposition

if TYPE_CHECKING:
    from duanka.detector.context import Detector

FORWARD_BATCH = 1000
"""The most input messages forwarded together: per subject-topic partition, their events
go in one bundle."""
FORWARD_WITHIN_S = 0.02
"""The longest an input message waits for its batch to fill."""
MARKER_VALUE = MARKER.encode()


async def run(detector: Detector, stream: Any) -> None:
    """The ingest agent: batches of input messages, as they come."""
    topic_kinds: dict[str, InputTopic] = {detector.settings.topic(t): t for t in INPUT_TOPICS}
    processing = detector.metrics.processing.labels("ingest")
    async for events in stream.take_events(FORWARD_BATCH, within=FORWARD_WITHIN_S):
        with processing.time():
            await _ingest(detector, topic_kinds, [event.message for event in events])


async def _ingest(
    detector: Detector, topic_kinds: dict[str, InputTopic], messages: list[Any]
) -> None:
    """Admit a batch of input messages and forward each to every subject it concerns, in
    one bundle per subject-topic partition; what is rejected goes to `dead-letters`. A
    message after one missing is left for when its partition is read again
    (`InputProgress.read`)."""
    progress = detector.input_progress
    messages = [message for message in messages if progress.read(message.tp, message.offset)]
    bundles: dict[tuple[SubjectKind, int], list[Forward]] = {}
    forwarded: list[tuple[Any, InputTopic, Admitted, int]] = []
    disposed: list[tuple[Any, Disposition]] = []
    markers = [is_marker(message) for message in messages]
    for message, marker in zip(messages, markers, strict=True):
        topic = topic_kinds[message.topic]
        if marker:
            continue
        try:
            admitted = admit(
                topic,
                message.key,
                message.value,
                datetime.now(UTC),
                detector.settings.max_clock_skew,
            )
            if isinstance(admitted, Disposition):
                disposed.append((message, admitted))
                continue
            admitted = as_written(admitted, message.headers)
            written = written_ms(message)
            forwards = forwards_of(
                detector.settings.partitions,
                admitted,
                topic,
                message.partition,
                message.offset,
                written,
            )
        except Exception as exc:
            await _reject(detector, message, topic, exc)
        else:
            for kind, partition, forward in forwards:
                bundles.setdefault((kind, partition), []).append(forward)
            forwarded.append((message, topic, admitted, written))
    try:
        await send_bundles(detector, bundles)
    except Exception as exc:
        for message, topic, _, _ in forwarded:
            await _reject(detector, message, topic, exc)
        forwarded = []
    for topic, count in Counter(topic for _, topic, _, _ in forwarded).items():
        detector.metrics.events.labels(topic, "ok").inc(count)
    times = {id(message): event_time(admitted) for message, _, admitted, _ in forwarded}
    for message, disposition in disposed:
        sent = _to_linker(detector, message, disposition)
        if await letters.guarded(detector, message, sent):
            times[id(message)] = to_ms(disposition.decided_at)
    for message, marker in zip(messages, markers, strict=True):
        at = times.get(id(message))
        progress.handled(message.tp, message.offset, written_ms(message), at=at, marker=marker)


def as_written(admitted: Admitted, headers: Any) -> Admitted:
    """An admitted message as its writer marked it: a tombstone duanka wrote to lift its
    own listing is known by its header."""
    lifted_own = any(
        name == LIFTED_OWN_HEADER and value == LIFTED_OWN for name, value in headers or ()
    )
    if lifted_own and isinstance(admitted, WatchlistUpdate) and admitted.entry is None:
        return replace(admitted, lifted_own=True)
    return admitted


def is_marker(message: Any) -> bool:
    """Whether an input message is a worker's marker (`progress`), not input."""
    return any(
        name == STREAM_HEADER and value == MARKER_VALUE for name, value in message.headers or ()
    )


def forwards_of(
    partitions: int,
    event: Admitted,
    topic: InputTopic,
    partition: int,
    offset: int,
    written: int,
) -> list[tuple[SubjectKind, int, Forward]]:
    """An admitted event (read at `offset` of `partition` of `topic`, written at `written`)
    as forwarded to each subject it concerns, with the partition of its `partitions`
    subject-topic partitions it goes to."""
    forwards = []
    values = compact(topic, event)
    for address in route(event):
        key = address.id.encode()
        forward = Forward(
            key, address.stream, topic, partition, offset, written, event, values=values
        )
        forwards.append((address.kind, partition_of(key, partitions), forward))
    return forwards


async def send_bundles(
    detector: Detector, bundles: dict[tuple[SubjectKind, int], list[Forward]]
) -> None:
    """Send forwards, in bundles, to their subject-topic partitions."""
    for (kind, partition), forwards in bundles.items():
        for value in encode_bundles(forwards):
            await detector.subject_events[kind].send(
                value=value, partition=partition, headers={STREAM_HEADER: BUNDLE.encode()}
            )


async def _to_linker(detector: Detector, message: Any, disposition: Disposition) -> None:
    """Send a disposition to the case linker, with where it was read (its dead letter, if
    the linker rejects it, points there) and when it was written (what it does takes its
    place in its subject's order by that, `core.disposition_gate`)."""
    headers = {
        STREAM_HEADER: DISPOSITION,
        TOPIC_HEADER: message.topic,
        PARTITION_HEADER: str(message.partition),
        OFFSET_HEADER: str(message.offset),
        RECEIVED_HEADER: str(written_ms(message)),
    }
    await detector.case_alerts.send(
        key=disposition.alert_id.encode(),
        value=encode(disposition),
        headers={name: value.encode() for name, value in headers.items()},
    )
    detector.metrics.events.labels("dispositions", "ok").inc()


async def _reject(detector: Detector, message: Any, topic: InputTopic, exc: Exception) -> None:
    await letters.send(detector, message, letters.error_of(message, exc))
    detector.metrics.events.labels(topic, "invalid").inc()
