"""Finding subjects that went quiet, so that their state is trimmed or dropped.

A subject's state changes only in its own partition's stream, in turn with its events, so
the sweep itself only reads: every `expiry_interval` it walks this worker's states and, for
each subject the engine would trim or delete against the oldest watermark of its kind's
partitions here, sends an `EXPIRE` message to the subject's own topic. The subject's owner
then expires it against its own partition's watermark, as a batch of its own
(`subjects._expire`), and the changelog follows.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from schemas.alerts import SubjectKind
from services.detector.core.routing import SUBJECT_KINDS
from services.detector.core.state import IdentityState
from services.detector.headers import EXPIRE, STREAM_HEADER
from services.detector.subjects import expiry_of

if TYPE_CHECKING:
    from services.detector.context import Detector

log = logging.getLogger(__name__)

CHUNK = 1000
"""Subjects read between two chances for the event loop to run other work."""


async def sweep(detector: Detector) -> None:
    """One sweep over every subject kind (a timer, every `expiry_interval`)."""
    for kind in SUBJECT_KINDS:
        sent = await sweep_kind(detector, kind)
        if sent:
            log.info("asked to expire %d %s subjects", sent, kind)


async def sweep_kind(detector: Detector, kind: SubjectKind) -> int:
    """Send EXPIRE for each local subject of `kind` that went quiet against the oldest
    watermark of its partitions here, and count what the table holds; returns how many
    were sent.

    RocksDB iterators read a consistent snapshot, so the walk pauses between chunks to keep
    latency low; a memory table is a dict that must not change while it is walked."""
    watermark = detector.partitions.oldest_watermark(kind)
    pause = detector.settings.store.startswith("rocksdb")
    sent = held = listed = 0
    for held, (key, state) in enumerate(detector.states[kind].items(), start=1):
        listed += isinstance(state, IdentityState) and state.listing is not None
        # with no watermark yet nothing can expire: the walk only counts
        if watermark is not None and expiry_of(detector, kind, state, watermark)[0]:
            await detector.subject_events[kind].send(
                key=key, value=b"", headers={STREAM_HEADER: EXPIRE.encode()}
            )
            sent += 1
        if pause and held % CHUNK == 0:
            await asyncio.sleep(0)
    metrics = detector.metrics
    metrics.state_keys.labels(kind).set(held)
    metrics.expiry_requests.labels(kind).inc(sent)
    if kind == "identity":
        metrics.watchlisted.set(listed)
    return sent
