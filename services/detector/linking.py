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
   lost in a crash. A disposition of an alert the linker does not know, or a second one of
   an alert by the same institution, is dead-lettered at its place in `dispositions`.
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
from services.detector.case_links import disposition_key
from services.detector.core.intake import Admitted
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


async def _link(detector: Detector, message: Any) -> None:
    alert = Alert.model_validate_json(message.value)
    links = detector.case_links
    await _publish(detector, links.linker().link(alert, datetime.now(UTC)))
    links.table[alert.alert_id.encode()] = message.value


async def _dispose(detector: Detector, message: Any, headers: dict[str, str]) -> None:
    disposition = Disposition.model_validate_json(message.value)
    links = detector.case_links
    partition = int(headers[PARTITION_HEADER])
    try:
        disposal = links.linker().dispose(disposition, datetime.now(UTC))
    except DecodeError as exc:
        position = (headers[TOPIC_HEADER], partition, int(headers[OFFSET_HEADER]))
        await letters.send_from(detector, position, message.key, message.value, exc)
        return
    await _publish(detector, disposal.cases)
    await _send_derived(detector, disposal.derived, partition, written_ms(message))
    if disposal.new:
        detector.metrics.dispositions.labels(disposal.rule, disposition.outcome).inc()
    links.table[disposition_key(disposition)] = message.value


async def _send_derived(
    detector: Detector, derived: list[Admitted], partition: int, written: int
) -> None:
    """Send what a disposition read from `partition` of `dispositions` derives to the
    subjects it concerns, as ingest forwards input events."""
    bundles: dict[tuple[SubjectKind, int], list[Forward]] = {}
    for message in derived:
        for kind, to, forward in forwards_of(detector, message, "dispositions", partition, written):
            bundles.setdefault((kind, to), []).append(forward)
    await send_bundles(detector, bundles)


async def _publish(detector: Detector, records: list[Case]) -> None:
    for record in records:
        await detector.cases.send(key=record.case_id.encode(), value=encode(record))
        detector.metrics.cases.labels(record.status).inc()
