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
   `cases` (keyed by case id, compacted), and offers a new disposition to every partition
   of the kind of subject it can act on (`case_links`: the partition that raised its
   alert before it applies what it derives, `core.disposal`). An alert
   or disposition taken already queues its case's record again: the first may have been
   lost in a crash. A second, different disposition of an alert by the same institution
   is dead-lettered at its place in `dispositions`. A disposition of an alert the linker
   has not linked is held (the alert may still be on its way from its subject's agent),
   and taken when the alert is linked; one whose alert has not come when the alerts
   linked reach the policy's `disposition_grace` past its decision is dead-lettered
   (`unknown_alert`), once every partition of its kind has passed it.
3. It stores the alert, or the disposition, in its table (one changelog record).
4. Faust acknowledges the message; its next commit flushes the producer first, so the
   records and the changelog record are delivered before the offset is committed.

What a disposition does reaches its subject in order (`core.disposition_gate`): ingest's
progress reports of the `dispositions` partitions come here too, between the dispositions,
and the linker relays them to every account and identity partition after the offers before
them; those partitions answer with their frontiers, so that the linker knows when one whose
alert has not come may be given up on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from duanka.detector import letters
from duanka.detector.case_links import LinkerWork, Stored, StoredAlert
from duanka.detector.core.cases import unknown_alert
from duanka.detector.headers import (
    DISPOSITION,
    FRONTIER,
    OFFSET_HEADER,
    PARTITION_HEADER,
    PROGRESS,
    RECEIVED_HEADER,
    STREAM_HEADER,
    TIES_HEADER,
    TOPIC_HEADER,
)
from duanka.detector.ingest import send_bundles
from duanka.detector.progress import decode_frontier, decode_report, send_report
from duanka.schemas.alerts import Alert
from duanka.schemas.codec import DecodeError, encode
from duanka.schemas.dispositions import Disposition

if TYPE_CHECKING:
    from duanka.detector.context import Detector


async def run(detector: Detector, stream: Any) -> None:
    """The linker's agent: one alert, disposition, report or frontier at a time."""
    async for event in stream.events():
        message = event.message
        headers = {name: value.decode() for name, value in (message.headers or ())}
        kind = headers.get(STREAM_HEADER)
        if kind == DISPOSITION:
            work = _dispose(detector, message, headers)
        elif kind == PROGRESS:
            work = _report(detector, message)
        elif kind == FRONTIER:
            work = _frontier(detector, message)
        else:
            work = _link(detector, message, headers)
        await letters.guarded(detector, message, work)
        await letters.guarded(detector, message, _relay(detector))
        detector.metrics.dispositions_held.set(detector.case_links.held())


async def _link(detector: Detector, message: Any, headers: dict[str, str]) -> None:
    alert = Alert.model_validate_json(message.value)
    stored = StoredAlert(message.value, headers.get(TIES_HEADER, "[]").encode())
    links = detector.case_links
    await _send(detector, links.link(alert, stored, datetime.now(UTC)))


async def _dispose(detector: Detector, message: Any, headers: dict[str, str]) -> None:
    disposition = Disposition.model_validate_json(message.value)
    partition, offset = int(headers[PARTITION_HEADER]), int(headers[OFFSET_HEADER])
    stored = Stored.read(partition, offset, int(headers[RECEIVED_HEADER]), message.value)
    try:
        now = datetime.now(UTC)
        work = detector.case_links.dispose(disposition, stored, now, message.offset)
    except DecodeError as exc:
        position = (headers[TOPIC_HEADER], partition, offset)
        await letters.send_from(detector, position, message.key, message.value, exc)
        return
    await _send(detector, work)


async def _report(detector: Detector, message: Any) -> None:
    """Ingest's progress of `dispositions` partitions: everything it sent before is here."""
    detector.case_links.gate().report(decode_report(message.value).origins)


async def _frontier(detector: Detector, message: Any) -> None:
    """A subject partition has applied everything before a disposition awaited."""
    lane, origins = decode_frontier(message.value)
    await _send(detector, detector.case_links.frontier(lane, origins))


async def _relay(detector: Detector) -> None:
    """Tell every account and identity partition how far each `dispositions` partition has
    come, and which disposition it awaits, when that changed."""
    links = detector.case_links
    for kind, report in links.relay().items():
        await send_report(detector, kind, range(links.partitions), report)


async def _send(detector: Detector, work: LinkerWork) -> None:
    """Publish the case records, send what dispositions taken derive to their subjects,
    dead-letter those whose alerts are not coming, and count those taken."""
    for record in work.cases:
        await detector.cases.send(key=record.case_id.encode(), value=encode(record))
        detector.metrics.cases.labels(record.status).inc()
    await send_bundles(detector, work.forwards)
    topic = detector.settings.topic("dispositions")
    for disposition, stored in work.unknown:
        position = (topic, stored.partition, stored.offset)
        key = disposition.alert_id.encode()
        await letters.send_from(detector, position, key, stored.value, unknown_alert(disposition))
    for disposal in work.taken:
        detector.metrics.dispositions.labels(disposal.rule, disposal.disposition.outcome).inc()
