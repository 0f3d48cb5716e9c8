"""The composition root: builds a worker's app and context, and wires every agent, timer
and rebalance hook (`_wire`). No detection logic lives here, and no other module imports
this one but the worker's entry point.

The data path has two stages, each a module: `ingest` (admit, route, bundle, send) and
`subjects` (receive, order, apply, publish), and the case linker after them (`linking`).
Each takes the `context.Detector`.
"""

from functools import partial
from typing import Any, cast

import faust

from duanka.console import pages as console
from duanka.detector import (
    commit_gaps,
    ingest,
    ingest_throttle,
    linking,
    merge,
    monitor,
    patches,
    progress,
    stall_watch,
    subjects,
    sweeper,
    web,
)
from duanka.detector.case_links import CaseLinks
from duanka.detector.context import Detector, raw_topic
from duanka.detector.core.intake import INPUT_TOPICS
from duanka.detector.core.routing import SUBJECT_KINDS
from duanka.detector.metrics import FAUST_PREFIX, create_metrics
from duanka.detector.partitions import MARKER_REACH_MS, SubjectPartitions
from duanka.detector.patches.consumer_state import committed, known_hole
from duanka.detector.progress import InputProgress
from duanka.detector.state_store import StoreOnCommit, SubjectStates
from duanka.schemas.alerts import SubjectKind
from duanka.settings import Settings
from duanka.topics import (
    CASE_ALERTS_TABLE,
    TABLE_NAMES,
    case_alerts_topic,
    subject_events_topic,
)

ROCKSDB_OPTIONS = {
    "write_buffer_size": 8 * 1024 * 1024,
    "max_write_buffer_number": 2,
}
"""Per partition database. Its block cache is not its own: every database shares one
(`ROCKSDB_MEMORY`), instead of Faust's default of 2 GiB each."""
ROCKSDB_MEMORY = 128 * 1024 * 1024
"""What all of a worker's RocksDB databases may hold in memory together: block cache and,
half of it at most, memtables (`patches.rocksdb_budget`)."""
PRODUCER_LINGER_S = 0.01
"""Each event becomes several messages (one per subject, one changelog record per subject
state); waiting up to 10 ms to batch them means fewer produce requests, less CPU for the
worker and the brokers, for at most 10 ms more latency per hop."""
COMMIT_INTERVAL_S = 0.5
"""How often offsets are committed. Subject states wait in memory from their changelog
records being queued to the next commit (`state_store`): at Faust's 2.8 s, a worker draining a
backlog held some 60,000 of them, and ended 150 MiB larger than at 0.5 s, at no faster a
pace. A rebalance also reads less again."""
PRODUCER_BATCH_BYTES = 512 * 1024
"""The largest record batch the producer builds for one partition. A subject batch's
changelog records go as one record batch (`state_store`): with aiokafka's 16 KiB, a batch of a
few hundred states took a dozen, each waiting for the one before it to be sent. Below the
broker's 1 MiB limit on a batch."""


def create_detector(settings: Settings) -> Detector:
    """Build the app for these settings and register its agents and web views."""
    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        key_serializer="raw",
        value_serializer="raw",
        processing_guarantee="at_least_once",
        ConsumerScheduler=merge.TimestampMerge,
        broker_session_timeout=settings.session_timeout.total_seconds(),
        producer_linger=PRODUCER_LINGER_S,
        broker_commit_interval=COMMIT_INTERVAL_S,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        consumer_auto_offset_reset="earliest",
        table_standby_replicas=0,
        web_enabled=True,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        autodiscover=False,
        broker_credentials=settings.kafka.credentials(),
        canonical_url=settings.canonical_url,
    )

    rocksdb = settings.store.startswith("rocksdb")
    patches.install(app, ROCKSDB_MEMORY if rocksdb else None)
    metrics = create_metrics()
    monitor.install(app, metrics.registry, FAUST_PREFIX)
    options = ROCKSDB_OPTIONS if rocksdb else None
    detector = Detector(
        settings=settings,
        app=app,
        inputs=raw_topic(app, *(settings.topic(t) for t in INPUT_TOPICS)),
        subject_events={
            kind: raw_topic(
                app,
                subject_events_topic(settings, kind),
                partitions=settings.partitions,
                internal=True,
            )
            for kind in SUBJECT_KINDS
        },
        states={
            kind: SubjectStates(
                app,
                kind,
                app.Table(
                    TABLE_NAMES[kind],
                    partitions=settings.partitions,
                    key_type=bytes,
                    options=options,
                ),
                settings.policy.in_ms(),
            )
            for kind in SUBJECT_KINDS
        },
        alerts=raw_topic(app, settings.topic("alerts")),
        case_alerts=raw_topic(app, case_alerts_topic(settings), partitions=1, internal=True),
        cases=raw_topic(app, settings.topic("cases")),
        case_links=CaseLinks(
            app.Table(
                CASE_ALERTS_TABLE,
                partitions=1,
                key_type=bytes,
                value_type=bytes,
                options=options,
            ),
            settings.policy,
            settings.partitions,
        ),
        dead_letters=raw_topic(app, settings.topic("dead-letters")),
        watchlist=raw_topic(app, settings.topic("watchlist")),
        metrics=metrics,
        institution_topics={},
        partitions=SubjectPartitions(app, settings, lambda why: metrics.released.labels(why).inc()),
        input_progress=InputProgress(
            start=lambda tp: committed(app.consumer, tp),
            hole=lambda tp, offset: known_hole(app.consumer, tp, offset),
            upcoming=lambda tp: merge.upcoming(app.consumer, tp),
        ),
    )
    merged = frozenset(settings.topic(t) for t in merge.MERGED_TOPICS)
    _wire(detector, merged)
    return detector


def _wire(detector: Detector, merged_topics: frozenset[str]) -> None:
    """Everything a worker runs, on one page: the two stages' agents, the loop sending held
    events back, the case linker, the timers, the rebalance hooks, the store's commit sensor
    and the web pages."""
    app = detector.app

    @app.agent(detector.inputs, name="ingest")
    async def ingest_stage(stream: Any) -> None:
        await ingest.run(detector, stream)

    for kind in SUBJECT_KINDS:
        _subject_stage(detector, kind)
    app.task(partial(subjects.give_up_held, detector))

    @app.agent(detector.case_alerts, name="case-linker")
    async def case_stage(stream: Any) -> None:
        await linking.run(detector, stream)

    app.timer(progress.REPORT_INTERVAL_S, name="progress-report")(
        progress.reporter(detector, MARKER_REACH_MS)
    )
    app.task(partial(sweeper.sweeping, detector))
    app.timer(commit_gaps.CHECK_INTERVAL, name="commit-gap-check")(commit_gaps.checker(detector))
    app.timer(stall_watch.CHECK_INTERVAL_S, name="stall-watch")(stall_watch.watcher(detector))
    app.timer(ingest_throttle.CHECK_INTERVAL_S, name="ingest-throttle")(
        ingest_throttle.governor(detector)
    )

    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        patches.attach_merge(app, merged_topics)

    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        await subjects.forget_partitions(detector, revoked)
        detector.case_links.forget()
        detector.input_progress.forget(set(revoked))
        merge.forget_partitions(app.consumer, revoked)
        patches.commit_head.forget_revoked(app.consumer, revoked)

    app.on_partitions_assigned.connect(cast(Any, on_assigned))
    app.on_partitions_revoked.connect(cast(Any, on_revoked))
    app.sensors.add(StoreOnCommit(list(detector.states.values())))
    web.register(detector)
    console.register(detector)


def _subject_stage(detector: Detector, kind: SubjectKind) -> None:
    @detector.app.agent(detector.subject_events[kind], name=f"{kind}-subjects")
    async def subject_stage(stream: Any) -> None:
        await subjects.run(detector, kind, stream)
