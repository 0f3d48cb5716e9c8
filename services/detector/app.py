"""The Faust application: topics, tables and wiring. No detection logic lives here."""

from dataclasses import dataclass
from typing import Any

import faust

from services.detector import agents, web
from services.detector.core.engine import Engine
from services.detector.core.intake import INPUT_TOPICS
from services.settings import Settings
from services.topics import identity_events_topic

ROCKSDB_OPTIONS = {
    "block_cache_size": 16 * 1024 * 1024,
    "write_buffer_size": 8 * 1024 * 1024,
    "max_write_buffer_number": 2,
}
"""Per partition database; Faust's default block cache is 2 GiB per partition."""


@dataclass(frozen=True, slots=True)
class Detector:
    """One configured worker: the Faust app and the channels its agents use."""

    settings: Settings
    app: faust.App
    engine: Engine
    inputs: Any
    identity_events: Any
    alerts: Any
    dead_letters: Any
    watchlist: Any
    identities: Any


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
        consumer_auto_offset_reset="earliest",
        table_standby_replicas=0,
        web_enabled=True,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        autodiscover=False,
    )

    def raw_topic(*names: str, **kwargs: Any) -> Any:
        return app.topic(*names, key_type=bytes, value_type=bytes, **kwargs)

    detector = Detector(
        settings=settings,
        app=app,
        engine=Engine(settings.policy),
        inputs=raw_topic(*(settings.topic(t) for t in INPUT_TOPICS)),
        identity_events=raw_topic(
            identity_events_topic(settings), partitions=settings.partitions, internal=True
        ),
        alerts=raw_topic(settings.topic("alerts")),
        dead_letters=raw_topic(settings.topic("dead-letters")),
        watchlist=raw_topic(settings.topic("watchlist")),
        identities=app.Table(
            "identities",
            partitions=settings.partitions,
            key_type=bytes,
            options=ROCKSDB_OPTIONS if settings.store.startswith("rocksdb") else None,
        ),
    )
    agents.register(detector)
    web.register(detector)
    return detector
