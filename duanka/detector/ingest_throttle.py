"""Ingest stops reading input while the worker's own stages have much left to read.

Ingest reads the input as fast as Faust fetches it and forwards each batch to the subject
topics; the subject agents and the case linker read those, and what the stages tell each
other (progress reports, the linker's relayed progress, the subject partitions' answers to
it, `core.disposition_gate`), through the same consumer. Unchecked, on a backlog, ingest
ran ahead of them by hundreds of thousands of events: every message between the stages
waited behind the bundles written before it (the account and identity partitions wait for
the linker's relayed progress), and every event forwarded meanwhile was held in memory.

So every `CHECK_INTERVAL_S`, on every worker: once some partition of the subject topics or
the case linker's topic held here has more than `Settings.ingest_lead` messages not yet
handed to its agent, the input partitions stop being fetched (`patches.fetch_pause`) and
the record merge holds what it has of them (`merge.TimestampMerge.hold`); once none has
more than a quarter of that, they go on. Were the merge to go on handing over what it
holds, the partitions it had fetched whole (small ones: `dispositions`) would no longer
wait for the paused ones, and would run ahead. The stages read whatever ingest does, so
what they have left to read goes down and ingest resumes. A rebalance fetches every
partition afresh; the check waits for it to end. Throttling delays input; it cannot
change the order anything is applied in (`core.ordering`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faust.types import TP

from duanka.detector.core.intake import INPUT_TOPICS
from duanka.detector.core.routing import SUBJECT_KINDS
from duanka.detector.merge import TimestampMerge
from duanka.detector.patches import fetch_pause
from duanka.detector.patches.consumer_state import unread
from duanka.topics import case_alerts_topic, subject_events_topic

if TYPE_CHECKING:
    from duanka.detector.context import Detector

CHECK_INTERVAL_S = 0.05
RESUME_SHARE = 4
"""Input is fetched again once no partition has more than `lead // RESUME_SHARE` unread."""


@dataclass(slots=True)
class Throttle:
    """Whether input should be paused, from the most any stage partition has left to read:
    paused above `lead`, resumed at or below a quarter of it."""

    lead: int
    paused: bool = False

    def update(self, unread: int) -> bool | None:
        """Take the most unread messages of any stage partition; returns True to pause the
        input, False to resume it, None to leave it as it is."""
        if not self.paused and unread > self.lead:
            self.paused = True
            return True
        if self.paused and unread <= self.lead // RESUME_SHARE:
            self.paused = False
            return False
        return None


def most_unread(consumer: Any, topics: set[str]) -> int:
    """The most messages any assigned partition of `topics` has not handed to its agent."""
    return max((unread(consumer, tp) for tp in _assigned(consumer, topics)), default=0)


def _assigned(consumer: Any, topics: set[str]) -> list[TP]:
    """The partitions of `topics` assigned to `consumer`."""
    return [tp for tp in consumer.assignment() if tp.topic in topics]


def governor(detector: Detector) -> Callable[[], Awaitable[None]]:
    """The timer body: pause or resume the input partitions held here."""
    app, settings, metrics = detector.app, detector.settings, detector.metrics
    stages = {case_alerts_topic(settings)} | {
        subject_events_topic(settings, kind) for kind in SUBJECT_KINDS
    }
    inputs = {settings.topic(t) for t in INPUT_TOPICS}
    throttle = Throttle(settings.ingest_lead)
    generation = app.consumer_generation_id

    async def check() -> None:
        nonlocal generation
        if app.rebalancing or app.in_recovery:
            return
        consumer = app.consumer
        if app.consumer_generation_id != generation:  # every partition fetched afresh
            generation = app.consumer_generation_id
            throttle.paused = False
            metrics.input_paused.set(0)
            if isinstance(consumer.scheduler, TimestampMerge):
                consumer.scheduler.hold(False)
        try:
            change = throttle.update(most_unread(consumer, stages))
        except AssertionError:  # a partition revoked under the check: next time
            return
        if change is None:
            return
        merge = consumer.scheduler
        if change and isinstance(merge, TimestampMerge):
            merge.hold(True)
        await fetch_pause.fetching(consumer, _assigned(consumer, inputs), paused=change)
        if not change and isinstance(merge, TimestampMerge):
            merge.hold(False)
        metrics.input_paused.set(1 if change else 0)
        if change:
            metrics.input_pauses.inc()

    return check
