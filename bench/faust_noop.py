"""The framework's own ceiling: a Faust agent that reads the preloaded input topics as the
worker's ingest stage does (a batch at a time, acknowledging every message) and does nothing
with them. What a worker cannot go beyond, whatever duanka does per event.

Run as `python -m bench.faust_noop PREFIX COUNT MARKER DATA_DIR`: once COUNT messages have
been read it writes how many to MARKER, and goes on until it is stopped.
"""

import sys
from pathlib import Path
from typing import Any

import faust

from bench.broker import BOOTSTRAP
from duanka.detector.app import PRODUCER_LINGER_S
from duanka.detector.core.intake import INPUT_TOPICS
from duanka.detector.ingest import FORWARD_BATCH, FORWARD_WITHIN_S


def reading_app(app_id: str, data_dir: Path) -> faust.App:
    """A Faust app configured as the worker's app is where it matters for reading
    (serializers, guarantee, offsets), with nothing in it."""
    return faust.App(
        app_id,
        broker=f"kafka://{BOOTSTRAP}",
        store="memory://",
        datadir=str(data_dir),
        key_serializer="raw",
        value_serializer="raw",
        processing_guarantee="at_least_once",
        producer_linger=PRODUCER_LINGER_S,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        autodiscover=False,
    )


def build(prefix: str, count: int, marker: Path, data_dir: Path) -> faust.App:
    """A reading app of one no-op agent over the prefixed input topics."""
    app = reading_app(f"{prefix}noop", data_dir)
    inputs = app.topic(
        *(f"{prefix}{topic}" for topic in INPUT_TOPICS), key_type=bytes, value_type=bytes
    )
    read = 0

    def done() -> None:
        marker.write_text(str(read))

    @app.agent(inputs, name="noop")
    async def noop(stream: Any) -> None:
        nonlocal read
        async for events in stream.take_events(FORWARD_BATCH, within=FORWARD_WITHIN_S):
            before, read = read, read + len(events)
            if before < count <= read:
                done()

    return app


def main(argv: list[str]) -> int:
    prefix, count, marker, data_dir = argv
    app = build(prefix, int(count), Path(marker), Path(data_dir))
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
