"""Finding subjects that went quiet, so that their state is trimmed or dropped.

A subject's state changes only in its own partition's stream, in turn with its events, so
the sweep itself only reads: every `expiry_interval` it walks this worker's states and
names each subject the engine would trim or delete against the oldest watermark of its
kind's partitions here in an `EXPIRE` message to the subject's own partition, up to
`KEYS_PER_REQUEST` subjects a message. The partition's owner then expires them against its
own partition's watermark, as one batch (`subjects._expire`), and the changelog follows.
(One message per subject cost Faust's reading of a message and a changelog batch of one
for each of the hundreds of thousands of subjects a sweep finds quiet.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import orjson

from duanka._native import Subjects
from duanka.detector.bundle import partition_of
from duanka.detector.core.routing import SUBJECT_KINDS
from duanka.detector.core.state import IdentityState
from duanka.detector.core.subject_memory import expire_held
from duanka.detector.headers import EXPIRE, STREAM_HEADER
from duanka.schemas.alerts import SubjectKind

if TYPE_CHECKING:
    from duanka.detector.context import Detector

log = logging.getLogger(__name__)

SWEEP_SHARE = 0.25
"""The most of the worker's time sweeps take: after a sweep, the next waits three times as
long as it took, or `expiry_interval` from its start, whichever is later. (Over hundreds of
thousands of subjects a sweep takes longer than the interval, and sweeps back to back left
the stages a fraction of the event loop.)"""
CHUNK = 1000
"""Subjects read between two chances for the event loop to run other work."""
KEYS_PER_REQUEST = 5000
"""The most subjects one `EXPIRE` message names (about 330 KiB of account ids), and so the
most one expiry batch applies."""


async def sweeping(detector: Detector) -> None:
    """Sweep every `expiry_interval`, and never more than `SWEEP_SHARE` of the time."""
    interval = detector.settings.expiry_interval.total_seconds()
    wait = interval
    while True:
        await asyncio.sleep(wait)
        began = time.monotonic()
        await sweep(detector)
        wait = next_sweep_in(interval, time.monotonic() - began)


def next_sweep_in(interval: float, took: float) -> float:
    """Seconds from the end of a sweep that took `took` seconds to the start of the next."""
    return max(interval - took, took * (1 - SWEEP_SHARE) / SWEEP_SHARE)


async def sweep(detector: Detector) -> None:
    """One sweep over every subject kind."""
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
    partitions = detector.settings.partitions
    scratch = Subjects(kind, detector.settings.policy.in_ms())
    quiet: dict[int, list[str]] = {}
    sent = held = listed = 0
    for held, (key, value) in enumerate(detector.states[kind].items(), start=1):
        if kind == "identity":
            listed += IdentityState.from_json(orjson.loads(value)).listing is not None
        # with no watermark yet nothing can expire: the walk only counts
        if watermark is not None and _expires(scratch, key.decode(), value, watermark):
            partition = partition_of(key, partitions)
            keys = quiet.setdefault(partition, [])
            keys.append(key.decode())
            sent += 1
            if len(keys) == KEYS_PER_REQUEST:
                await _request(detector, kind, partition, keys)
                keys.clear()
        if held % CHUNK == 0:
            scratch.clear()
            if pause:
                await asyncio.sleep(0)
    for partition, keys in quiet.items():
        if keys:
            await _request(detector, kind, partition, keys)
    metrics = detector.metrics
    metrics.state_keys.labels(kind).set(held)
    metrics.expiry_requests.labels(kind).inc(sent)
    if kind == "identity":
        metrics.watchlisted.set(listed)
    return sent


def _expires(scratch: Subjects, id: str, value: bytes, watermark: int) -> bool:
    """Whether expiring the subject `id`, whose state is `value`, against `watermark`
    changes it; `scratch` holds it meanwhile."""
    scratch.load(id, value)
    return expire_held(scratch, id, watermark)


async def _request(detector: Detector, kind: SubjectKind, partition: int, keys: list[str]) -> None:
    """Ask the owner of a subject partition to expire these subjects of it."""
    await detector.subject_events[kind].send(
        key=None,
        value=orjson.dumps(keys),
        partition=partition,
        headers={STREAM_HEADER: EXPIRE.encode()},
    )
