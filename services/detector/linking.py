"""The case linker's stage: every alert, on one partition, joined into cases (`core.cases`).

Subject agents send each alert they publish to the worker's `case-alerts` topic as well
(`subjects`), and ingest sends every disposition there (`ingest`). It has one partition:
alerts are a small fraction of events, so one linker keeps up with all of them, and every
join is made in one place. The worker holding that partition takes each message in turn:

1. When it has just taken the partition over, it first restores its linker from the
   alerts and dispositions its table holds (restored by Faust from the table's changelog,
   on a fresh disk too): cases depend only on which alerts there are, and their status on
   the dispositions, so that is the linker as it was.
2. It links the alert, or takes the disposition, and queues the case records that makes on
   `cases` (keyed by case id, compacted), and what a new disposition sends to subjects on
   their topics (a confirmation of an alert about an account flags the account). An alert
   or disposition taken already queues its case's record again: the first may have been
   lost in a crash. A second, different disposition of an alert by the same institution
   is dead-lettered at its place in `dispositions`. A disposition of an alert the linker
   has not linked is held (the alert may still be on its way from its subject's agent),
   and taken when the alert is linked; one whose alert has not come when the alerts
   linked reach the policy's `disposition_grace` past its decision is dead-lettered
   (`unknown_alert`).
3. It stores the alert, or the disposition, in its table (one changelog record).
4. Faust acknowledges the message; its next commit flushes the producer first, so the
   records and the changelog record are delivered before the offset is committed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from schemas.alerts import Alert, SubjectKind
from schemas.cases import Case
from schemas.codec import DecodeError, encode
from schemas.dispositions import Disposition
from services.detector import letters
from services.detector.bundle import Forward, written_ms
from services.detector.case_links import Stored
from services.detector.core.cases import Disposal, unknown_alert
from services.detector.headers import (
    DISPOSITION,
    OFFSET_HEADER,
    PARTITION_HEADER,
    STREAM_HEADER,
    TOPIC_HEADER,
)
from services.detector.ingest import forwards_of, send_bundles

if TYPE_CHECKING:
    from services.detector.context import Detector


async def run(detector: Detector, stream: Any) -> None:
    """The linker's agent: one alert or disposition at a time."""
    async for event in stream.events():
        message = event.message
        headers = {name: value.decode() for name, value in (message.headers or ())}
        if headers.get(STREAM_HEADER) == DISPOSITION:
            work = _dispose(detector, message, headers)
        else:
            work = _link(detector, message)
        await letters.guarded(detector, message, work)
        detector.metrics.dispositions_held.set(detector.case_links.held())


async def _link(detector: Detector, message: Any) -> None:
    alert = Alert.model_validate_json(message.value)
    links = detector.case_links
    linking = links.linker().link(alert, datetime.now(UTC))
    await _publish(detector, linking.cases)
    for disposal in linking.disposals:
        await _took(detector, disposal, links.stored(disposal.disposition), message)
    for disposition in linking.expired:
        stored = links.stored(disposition)
        position = (detector.settings.topic("dispositions"), stored.partition, stored.offset)
        key = disposition.alert_id.encode()
        await letters.send_from(detector, position, key, stored.value, unknown_alert(disposition))
        links.drop(disposition)
    links.table[alert.alert_id.encode()] = message.value


async def _dispose(detector: Detector, message: Any, headers: dict[str, str]) -> None:
    disposition = Disposition.model_validate_json(message.value)
    links = detector.case_links
    stored = Stored(int(headers[PARTITION_HEADER]), int(headers[OFFSET_HEADER]), message.value)
    try:
        disposal = links.linker().dispose(disposition, datetime.now(UTC))
    except DecodeError as exc:
        position = (headers[TOPIC_HEADER], stored.partition, stored.offset)
        await letters.send_from(detector, position, message.key, message.value, exc)
        return
    if disposal is not None:
        await _publish(detector, disposal.cases)
        await _took(detector, disposal, stored, message)
    links.store(disposition, stored)


async def _took(detector: Detector, disposal: Disposal, stored: Stored, message: Any) -> None:
    """Send what a disposition read at `stored` of `dispositions`, and taken now, derives
    to the subjects it concerns, as ingest forwards input events; and count it."""
    partition, offset = stored.partition, stored.offset
    bundles: dict[tuple[SubjectKind, int], list[Forward]] = {}
    written = written_ms(message)
    for event in disposal.derived:
        partitions = detector.settings.partitions
        forwards = forwards_of(partitions, event, "dispositions", partition, offset, written)
        for kind, to, forward in forwards:
            bundles.setdefault((kind, to), []).append(forward)
    await send_bundles(detector, bundles)
    if disposal.new:
        detector.metrics.dispositions.labels(disposal.rule, disposal.disposition.outcome).inc()


async def _publish(detector: Detector, records: list[Case]) -> None:
    for record in records:
        await detector.cases.send(key=record.case_id.encode(), value=encode(record))
        detector.metrics.cases.labels(record.status).inc()
