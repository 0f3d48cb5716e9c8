"""The case linker's stage: every alert, on one partition, joined into cases (`core.cases`).

Subject agents send each alert they publish to the worker's `case-alerts` topic as well
(`subjects`). It has one partition: alerts are a small fraction of events, so one linker
keeps up with all of them, and every join is made in one place. The worker holding that
partition links each alert in turn:

1. When it has just taken the partition over, it first restores its linker from the
   alerts its table holds (restored by Faust from the table's changelog, on a fresh disk
   too): cases depend only on which alerts there are, so that is the linker as it was.
2. It links the alert, and queues the case records that makes on `cases` (keyed by case
   id, compacted). An alert linked already queues its case's record again: the first
   may have been lost in a crash.
3. It stores the alert in its table (one changelog record).
4. Faust acknowledges the message; its next commit flushes the producer first, so the
   records and the changelog record are delivered before the offset is committed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from schemas.alerts import Alert
from schemas.codec import encode
from services.detector import letters

if TYPE_CHECKING:
    from services.detector.context import Detector


async def run(detector: Detector, stream: Any) -> None:
    """The linker's agent: one alert at a time."""
    async for event in stream.events():
        await letters.guarded(detector, event.message, _link(detector, event.message))


async def _link(detector: Detector, message: Any) -> None:
    alert = Alert.model_validate_json(message.value)
    links = detector.case_links
    for record in links.linker().link(alert, datetime.now(UTC)):
        await detector.cases.send(key=record.case_id.encode(), value=encode(record))
        detector.metrics.cases.labels(record.status).inc()
    links.table[alert.alert_id.encode()] = message.value
