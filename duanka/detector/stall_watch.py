"""A warning, with what the consumer knows, when a partition stops being read.

Workers once stopped reading their input for minutes after a restart or a rebalance, with
no error: the record merge waited for each partition Faust had sought in turn
(`merge.tell_seeks` fixed it). This check says when a partition's commit stays put with
messages left, and gives what is needed to find out why: whether Faust has the partition
paused or inactive or its flow stopped, how many of its records the merge holds, and
Faust's read offset against the commit and the high watermark. It repairs nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from faust.types import TP

from duanka.detector.core.intake import INPUT_TOPICS
from duanka.detector.core.routing import SUBJECT_KINDS
from duanka.detector.patches import consumer_state
from duanka.topics import subject_events_topic

if TYPE_CHECKING:
    from duanka.detector.context import Detector

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 10.0
STALLED_AFTER_S = 60.0
"""How long a partition's commit may stay put with messages left before it is reported:
far longer than anything held on purpose (30 s for event-time order)."""


class _Seen(NamedTuple):
    committed: int | None
    since: float
    reported: bool


def stalled(
    consumer: Any,
    topics: set[str],
    seen: dict[TP, _Seen],
    now: float,
    after: float = STALLED_AFTER_S,
) -> list[TP]:
    """The assigned partitions of `topics` whose commit has not moved for `after` seconds
    while their high watermark is past it, each once per stall; updates `seen`. (Faust
    also assigns the tables' changelogs, which it keeps paused outside recovery.)"""
    found = []
    assigned = {tp for tp in consumer.assignment() if tp.topic in topics}
    for tp in set(seen) - assigned:
        del seen[tp]
    for tp in assigned:
        committed = consumer_state.committed(consumer, tp)
        highwater = consumer.highwater(tp)
        behind = highwater is not None and (committed or 0) < highwater
        previous = seen.get(tp)
        if not behind or previous is None or previous.committed != committed:
            seen[tp] = _Seen(committed, now, reported=False)
        elif not previous.reported and now - previous.since >= after:
            seen[tp] = previous._replace(reported=True)
            found.append(tp)
    return found


def watcher(detector: Detector) -> Callable[[], Awaitable[None]]:
    """The timer body of the check, run every `CHECK_INTERVAL_S` on every worker."""
    app, settings = detector.app, detector.settings
    topics = {settings.topic(t) for t in INPUT_TOPICS} | {
        subject_events_topic(settings, kind) for kind in SUBJECT_KINDS
    }
    seen: dict[TP, _Seen] = {}

    async def check() -> None:
        if app.rebalancing:
            seen.clear()
            return
        consumer = app.consumer
        try:
            for tp in stalled(consumer, topics, seen, time.monotonic()):
                log.warning(
                    "%s[%d] not read for %.0f s with messages left: %s",
                    tp.topic,
                    tp.partition,
                    STALLED_AFTER_S,
                    consumer_state.describe(consumer, tp),
                )
        except AssertionError:  # a partition revoked under the check: next time
            seen.clear()

    return check
