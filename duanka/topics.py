"""duanka's topics: their names, their configuration, and idempotent creation.

The worker never relies on broker auto-creation: `duanka topics` (and the worker at start)
creates what is missing with the configured partitions (the case linker's topics have one),
and reports what already exists with a different partition count instead of silently
using it. That includes the tables' changelogs: Faust would declare them itself, but its
consumer, fetching metadata at once, could then see a changelog without partitions and
reject every event of that table for minutes (`PartitionsMismatch`). Per-institution alert
topics (`alerts.<institution>`) are created the first time an alert names the institution
(`ensure_topic`), here too rather than by Faust, whose declaration of a topic that already
exists but is missing from its producer's metadata can wait without end (seen after a
restart), and returns before the new topic has leaders.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, for_code

from duanka.detector.core.routing import SUBJECT_KINDS
from duanka.schemas.alerts import SubjectKind
from duanka.settings import Settings

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36
_DAY_MS = 24 * 3600 * 1000
ALERT_RETENTION = timedelta(days=30)
READY_TIMEOUT_S = 30
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0
WEEK = {"retention.ms": str(7 * _DAY_MS)}
APPENDED = {"message.timestamp.type": "LogAppendTime"}
"""The input topics whose records are put in order by write time: the broker stamps each
record as it appends it, so write times are one clock's, whatever producers' clocks say,
and a worker's markers are stamped by it too (`detector.progress`)."""
MONTH = {"retention.ms": str(ALERT_RETENTION // timedelta(milliseconds=1))}
COMPACTED = {"cleanup.policy": "compact"}
TABLE_NAMES: dict[SubjectKind, str] = {
    "identity": "identities",
    "account": "accounts",
    "device": "devices",
    "msisdn": "msisdns",
}
"""The Faust table holding each subject kind's state."""


CASE_ALERTS_TABLE = "case-alerts"
"""The Faust table holding every alert the case linker has linked, by alert id."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic: its full name, the configs it is created with, and its partitions (None:
    the configured count)."""

    name: str
    configs: dict[str, str] = field(default_factory=dict)
    partitions: int | None = None

    def partition_count(self, settings: Settings) -> int:
        """How many partitions the topic has."""
        return settings.partitions if self.partitions is None else self.partitions


def subject_events_topic(settings: Settings, kind: SubjectKind) -> str:
    """The worker's own repartition topic for one subject kind: events keyed by subject."""
    return f"{settings.app_id}-{kind}-events"


def changelog_topic(settings: Settings, kind: SubjectKind) -> str:
    """The compacted changelog of a subject kind's table, named as Faust names it."""
    return f"{settings.app_id}-{TABLE_NAMES[kind]}-changelog"


def case_alerts_topic(settings: Settings) -> str:
    """The worker's own topic of every alert, on one partition, for the case linker."""
    return f"{settings.app_id}-case-alerts"


def case_alerts_changelog(settings: Settings) -> str:
    """The compacted changelog of the case linker's table, named as Faust names it."""
    return f"{settings.app_id}-{CASE_ALERTS_TABLE}-changelog"


def institution_alerts_topic(settings: Settings, institution: str) -> str:
    """The alerts one institution may read (codes are `[a-z0-9_-]`, valid in topic names)."""
    return settings.topic(f"alerts.{institution}")


def catalogue(settings: Settings) -> list[TopicSpec]:
    """Every fixed topic the service reads or writes."""
    return [
        TopicSpec(settings.topic("sim-activations"), WEEK | APPENDED),
        TopicSpec(settings.topic("account-opens"), WEEK | APPENDED),
        TopicSpec(settings.topic("transfers"), WEEK | APPENDED),
        TopicSpec(
            settings.topic("watchlist"),
            {"cleanup.policy": "compact", "min.compaction.lag.ms": str(3600 * 1000)} | APPENDED,
        ),
        TopicSpec(settings.topic("dispositions"), MONTH | APPENDED),
        TopicSpec(settings.topic("alerts"), MONTH),
        TopicSpec(settings.topic("dead-letters"), MONTH),
        TopicSpec(settings.topic("cases"), COMPACTED),
        *(TopicSpec(subject_events_topic(settings, kind), WEEK) for kind in SUBJECT_KINDS),
        *(TopicSpec(changelog_topic(settings, kind), COMPACTED) for kind in SUBJECT_KINDS),
        TopicSpec(case_alerts_topic(settings), WEEK, partitions=1),
        TopicSpec(case_alerts_changelog(settings), COMPACTED, partitions=1),
    ]


async def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create the missing topics of `specs` (the catalogue by default) and wait until they
    have leaders; returns the names created."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    await admin.start()
    try:
        return await _create_missing(
            admin, catalogue(settings) if specs is None else specs, settings
        )
    finally:
        await admin.close()


async def ensure_topic(
    settings: Settings, spec: TopicSpec, attempt_timeout: float = READY_TIMEOUT_S * 2
) -> None:
    """Create one topic unless it exists, and wait until it has leaders. An attempt that
    fails or takes longer than `attempt_timeout` is retried, with a warning and a growing
    pause, until one succeeds: the caller holds an alert that must not be lost, and an
    operator sees why it waits."""
    pause = RETRY_FIRST_S
    while True:
        try:
            await asyncio.wait_for(ensure_topics(settings, [spec]), attempt_timeout)
            return
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("could not create topic %s (%r); retrying in %.0f s", spec.name, exc, pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, RETRY_MAX_S)


async def delete_topics(settings: Settings) -> list[str]:
    """Delete every topic whose name starts with the (non-empty) topic prefix."""
    if not settings.topic_prefix:
        raise ValueError("refusing to delete topics without DUANKA_TOPIC_PREFIX")
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()


async def _create_missing(
    admin: AIOKafkaAdminClient, wanted: list[TopicSpec], settings: Settings
) -> list[str]:
    existing = {t["topic"]: t for t in await admin.describe_topics([s.name for s in wanted])}
    missing = []
    for spec in wanted:
        described = existing.get(spec.name)
        if described is None or described["error_code"]:
            missing.append(spec)
        elif len(described["partitions"]) != spec.partition_count(settings):
            log.warning(
                "topic %s has %d partitions, not the configured %d",
                spec.name,
                len(described["partitions"]),
                spec.partition_count(settings),
            )
    if not missing:
        return []
    response = await admin.create_topics(
        [
            NewTopic(
                spec.name,
                num_partitions=spec.partition_count(settings),
                replication_factor=settings.replication_factor,
                topic_configs=spec.configs,
            )
            for spec in missing
        ]
    )
    created = []
    for name, code, message in response.topic_errors:
        if code == 0:
            created.append(name)
        elif code != _TOPIC_ALREADY_EXISTS:
            raise for_code(code)(f"could not create topic {name}: {message}")
    partitions = {spec.name: spec.partition_count(settings) for spec in missing}
    await _until_ready(admin, partitions)
    await _until_answering(settings, partitions)
    return created


async def _until_ready(admin: AIOKafkaAdminClient, partitions: dict[str, int]) -> None:
    """Wait until the cluster's metadata shows every new topic with a leader for each
    partition, so that clients started next find them whole."""
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
    while True:
        described = await admin.describe_topics(list(partitions))
        if all(
            not t["error_code"]
            and len(t["partitions"]) == partitions[t["topic"]]
            and all(p["leader"] >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        if asyncio.get_running_loop().time() > deadline:
            names = ", ".join(partitions)
            raise TimeoutError(f"topics not ready after {READY_TIMEOUT_S} s: {names}")
        await asyncio.sleep(0.2)


async def _until_answering(settings: Settings, partitions: dict[str, int]) -> None:
    """Wait until the leader of every new partition answers for it (a ListOffsets request,
    retried while it is refused). Metadata names a leader before that broker has taken the
    partition over; a producer writing to it then is told NotLeaderForPartition and retries,
    and with one broker every batch to it waits meanwhile: the worker's subject-topic sends
    too, which event-time order needs appended soon after they are stamped."""
    consumer = AIOKafkaConsumer(**settings.kafka_client_options(), enable_auto_commit=False)
    await consumer.start()
    try:
        wanted = [
            TopicPartition(name, n) for name, count in partitions.items() for n in range(count)
        ]
        await asyncio.wait_for(consumer.end_offsets(wanted), READY_TIMEOUT_S)
    finally:
        await consumer.stop()
