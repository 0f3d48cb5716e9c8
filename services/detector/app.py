"""The Faust application: topics, tables and wiring. No detection logic lives here."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.types import TP

from schemas.alerts import SubjectKind
from services.detector import (
    agents,
    commit_gaps,
    merge,
    patches,
    progress,
    stall_watch,
    sweeper,
    web,
)
from services.detector.core.engine import Engine
from services.detector.core.intake import INPUT_TOPICS
from services.detector.core.ordering import EventOrder
from services.detector.core.routing import SUBJECT_KINDS
from services.detector.core.watermark import FEEDING_TOPICS, UNTIMED_TOPICS, Watermark, origin_of
from services.detector.metrics import FAUST_PREFIX, Metrics, create_metrics
from services.detector.progress import InputProgress
from services.settings import Settings
from services.topics import (
    MONTH,
    TABLE_NAMES,
    TopicSpec,
    ensure_topic,
    institution_alerts_topic,
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


@dataclass(frozen=True, slots=True)
class Detector:
    """One configured worker: the Faust app and the channels its agents use."""

    settings: Settings
    app: faust.App
    engine: Engine
    inputs: Any
    subject_events: dict[SubjectKind, Any]
    tables: dict[SubjectKind, Any]
    alerts: Any
    dead_letters: Any
    watchlist: Any
    metrics: Metrics
    institution_topics: dict[str, Any]
    """`alerts.<institution>` topics already created, by institution."""
    watermarks: dict[tuple[SubjectKind, int], Watermark]
    """Per subject kind and partition of its topic held here, how far its input has surely
    come in event time (for forgetting what no event can count any more)."""
    orders: dict[tuple[SubjectKind, int], EventOrder[agents.Pending]]
    """Per subject kind and partition of its topic held here, the events waiting for their
    turn in event-time order."""
    input_progress: InputProgress
    """How far this worker has forwarded the input partitions it reads."""
    creating: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while an institution's alert topic is created."""

    def watermark(self, kind: SubjectKind, partition: int) -> Watermark:
        """The watermark of a partition of `kind`'s subject topic."""
        watermark = self.watermarks.get((kind, partition))
        if watermark is None:
            watermark = self.watermarks[(kind, partition)] = Watermark(self._input_partitions())
        return watermark

    def order(self, kind: SubjectKind, partition: int) -> EventOrder[agents.Pending]:
        """The event-time order of a partition of `kind`'s subject topic: fed by every
        partition of the topics feeding the kind (and, in write time, of the watchlist for
        identities), in this consumer-group generation, and
        holding everything back until the partition is read up to its end (its high
        watermark) as it was when the order was made."""
        order = self.orders.get((kind, partition))
        if order is None:
            end = self.app.consumer.highwater(
                TP(subject_events_topic(self.settings, kind), partition)
            )
            partitions = self._input_partitions()

            def origins(topics: tuple[str, ...]) -> list[str]:
                return [origin_of(topic, p) for topic in topics for p in range(partitions[topic])]

            generation = self.app.consumer_generation_id
            released = self.metrics.released
            order = self.orders[(kind, partition)] = EventOrder(
                origins(FEEDING_TOPICS[kind]),
                generation,
                agents.MAX_HOLD_S,
                agents.CAUGHT_UP_SLACK_MS,
                record_origins=origins(UNTIMED_TOPICS.get(kind, ())),
                lead=agents.WATCHLIST_LEAD_MS,
                backlog_end=end,
                released=lambda reason: released.labels(reason).inc(),
            )
        return order

    def subject_kind(self, topic: str) -> SubjectKind | None:
        """The subject kind whose events `topic` carries; None for other topics."""
        for kind in SUBJECT_KINDS:
            if subject_events_topic(self.settings, kind) == topic:
                return kind
        return None

    def holds(self, tp: TP, offset: int) -> bool:
        """Whether the message at `offset` of `tp` is a subject event held for its turn (so
        not acknowledged yet, and not lost)."""
        kind = self.subject_kind(tp.topic)
        order = None if kind is None else self.orders.get((kind, tp.partition))
        return order is not None and any(p.delivery.event.message.offset == offset for p in order)

    def _input_partitions(self) -> dict[str, int]:
        """Per input topic, its partition count as the consumer knows it (the configured
        count until it does)."""
        return {
            topic: self.app.consumer.topic_partitions(self.settings.topic(topic))
            or self.settings.partitions
            for topic in INPUT_TOPICS
        }

    def oldest_watermark(self, kind: SubjectKind) -> int | None:
        """The oldest watermark of `kind`'s partitions held here; None unless all are known:
        what is settled against it is settled on every partition."""
        values = [w.value(kind) for (k, _), w in self.watermarks.items() if k == kind]
        known = [v for v in values if v is not None]
        return min(known) if known and len(known) == len(values) else None

    async def institution_alerts(self, institution: str) -> Any:
        """The institution's alert topic, created on first use (institutions are named by
        data, so they cannot be listed ahead); one creation at a time."""
        topic = self.institution_topics.get(institution)
        if topic is None:
            async with self.creating:
                topic = self.institution_topics.get(institution)
                if topic is None:
                    name = institution_alerts_topic(self.settings, institution)
                    await ensure_topic(self.settings, TopicSpec(name, MONTH))
                    topic = self.institution_topics[institution] = raw_topic(self.app, name)
        return topic


def raw_topic(app: faust.App, *names: str, **kwargs: Any) -> Any:
    """A topic whose keys and values are bytes, as they are on the wire."""
    return app.topic(*names, key_type=bytes, value_type=bytes, **kwargs)


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

    timed = frozenset(t for topics in FEEDING_TOPICS.values() for t in topics)
    rocksdb = settings.store.startswith("rocksdb")
    patches.install(
        app, frozenset(settings.topic(t) for t in timed), ROCKSDB_MEMORY if rocksdb else None
    )
    metrics = create_metrics()
    setup_prometheus_sensors(
        app, pattern="/metrics", registry=metrics.registry, name_prefix=FAUST_PREFIX
    )
    options = ROCKSDB_OPTIONS if rocksdb else None
    detector = Detector(
        settings=settings,
        app=app,
        engine=Engine(settings.policy),
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
        tables={
            kind: app.Table(
                TABLE_NAMES[kind], partitions=settings.partitions, key_type=bytes, options=options
            )
            for kind in SUBJECT_KINDS
        },
        alerts=raw_topic(app, settings.topic("alerts")),
        dead_letters=raw_topic(app, settings.topic("dead-letters")),
        watchlist=raw_topic(app, settings.topic("watchlist")),
        metrics=metrics,
        institution_topics={},
        watermarks={},
        orders={},
        input_progress=InputProgress(),
    )
    agents.register(detector)
    progress.register(detector)
    sweeper.register(detector)
    commit_gaps.register(detector)
    stall_watch.register(detector)
    merge.register(app)
    web.register(detector)
    return detector
