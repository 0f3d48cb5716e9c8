"""duanka's topics: their names, their configuration, and idempotent creation.

The worker never relies on broker auto-creation: `duanka topics` (and the worker at start)
creates what is missing with the configured partitions, and reports what already exists with
a different partition count instead of silently using it.
"""

import asyncio
import logging
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

from services.settings import Settings

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36
_DAY_MS = 24 * 3600 * 1000
READY_TIMEOUT_S = 30


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic: its full name and the configs it is created with."""

    name: str
    configs: dict[str, str] = field(default_factory=dict)


def identity_events_topic(settings: Settings) -> str:
    """The worker's own repartition topic: input events re-keyed by identity."""
    return f"{settings.app_id}-identity-events"


def catalogue(settings: Settings) -> list[TopicSpec]:
    """Every topic the service reads or writes (Faust creates its changelogs itself)."""
    week = {"retention.ms": str(7 * _DAY_MS)}
    month = {"retention.ms": str(30 * _DAY_MS)}
    return [
        TopicSpec(settings.topic("sim-activations"), week),
        TopicSpec(settings.topic("account-opens"), week),
        TopicSpec(settings.topic("transfers"), week),
        TopicSpec(
            settings.topic("watchlist"),
            {"cleanup.policy": "compact", "min.compaction.lag.ms": str(3600 * 1000)},
        ),
        TopicSpec(settings.topic("alerts"), month),
        TopicSpec(settings.topic("dead-letters"), month),
        TopicSpec(identity_events_topic(settings), week),
    ]


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics; returns the names created. Raises on any broker error."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        wanted = catalogue(settings)
        existing = {t["topic"]: t for t in await admin.describe_topics([s.name for s in wanted])}
        for spec in wanted:
            described = existing.get(spec.name)
            if described and not described["error_code"]:
                count = len(described["partitions"])
                if count != settings.partitions:
                    log.warning(
                        "topic %s has %d partitions, not the configured %d",
                        spec.name,
                        count,
                        settings.partitions,
                    )
        missing = [
            spec
            for spec in wanted
            if spec.name not in existing or existing[spec.name]["error_code"]
        ]
        if not missing:
            return []
        response = await admin.create_topics(
            [
                NewTopic(
                    spec.name,
                    num_partitions=settings.partitions,
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
        await _until_ready(admin, [spec.name for spec in missing], settings.partitions)
        return created
    finally:
        await admin.close()


async def _until_ready(admin: AIOKafkaAdminClient, names: list[str], partitions: int) -> None:
    """Wait until the cluster's metadata shows every new topic with a leader for each
    partition, so that clients started next find them whole."""
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
    while True:
        described = await admin.describe_topics(names)
        if all(
            not t["error_code"]
            and len(t["partitions"]) == partitions
            and all(p["leader"] >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topics not ready after {READY_TIMEOUT_S} s: {', '.join(names)}")
        await asyncio.sleep(0.2)
