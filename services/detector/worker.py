"""`duanka worker`: create the topics, then run the Faust worker until stopped."""

import asyncio
import logging

import faust

from services.detector.app import create_detector
from services.settings import Settings
from services.topics import ensure_topics


def run(settings: Settings) -> None:
    """Block running one worker; returns after SIGTERM/SIGINT and a clean shutdown."""
    logging.basicConfig(level=settings.log_level.upper())
    created = asyncio.run(ensure_topics(settings))
    if created:
        logging.getLogger(__name__).info("created topics: %s", ", ".join(created))
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    detector = create_detector(settings)
    worker = faust.Worker(detector.app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
