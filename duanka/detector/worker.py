"""`duanka worker`: create the topics, then run the Faust worker until stopped."""

import asyncio
import logging

import faust
from aiokafka.errors import KafkaError

from duanka.detector import allocator
from duanka.detector.app import create_detector
from duanka.detector.patches import pins
from duanka.settings import Settings
from duanka.topics import ensure_topics

log = logging.getLogger(__name__)


def run(settings: Settings) -> int:
    """Block running one worker; returns its exit status after SIGTERM/SIGINT and a clean
    shutdown, or at once when Faust or aiokafka is not the version pinned, or Kafka cannot
    be reached or refuses the credentials."""
    logging.basicConfig(level=settings.log_level.upper())
    wrong = pins.mismatches()
    if wrong:
        log.error("wrong framework versions: %s", "; ".join(wrong))
        return 2
    allocator.tune()
    try:
        created = asyncio.run(ensure_topics(settings))
    except (KafkaError, OSError) as exc:
        log.error(
            "%s; check DUANKA_BROKER and DUANKA_KAFKA__*", settings.kafka.describe_failure(exc)
        )
        return 2
    if created:
        log.info("created topics: %s", ", ".join(created))
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    detector = create_detector(settings)
    worker = faust.Worker(detector.app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
    return 0
