"""What the broker benchmarks share: the local broker, workers started and stopped as the
integration tests do, and waiting until a worker group has committed everything."""

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.integration.conftest import (
    BOOTSTRAP,
    delete_topics,
    drained,
    new_prefix,
    rss_mib,
    start_worker,
    stop_process,
    stop_worker,
)

__all__ = [
    "BOOTSTRAP",
    "delete_topics",
    "new_prefix",
    "rss_mib",
    "start_worker",
    "stop_process",
    "stop_worker",
]

DRAIN_WITHIN_S = 3600.0
MARK_POLL_S = 0.05
DRAIN_POLL_S = 1.0


async def until_drained(prefix: str) -> None:
    """Poll the group's committed offsets until they reach the end of every partition it
    reads (workers expose no completion signal); fails after an hour."""
    deadline = time.monotonic() + DRAIN_WITHIN_S
    while True:
        if await drained(prefix, f"{prefix}duanka"):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the workers did not drain within {DRAIN_WITHIN_S:.0f} s")
        await asyncio.sleep(DRAIN_POLL_S)


def until_marked(name: str, module: list[str], within: float) -> tuple[float, str]:
    """Run `python -m <module...> MARKER DIRECTORY` until it writes MARKER (a reader that
    has read what it was asked to): the seconds from its start, and what it wrote. Stopped
    afterwards; fails, with the end of its output, if it exits first or takes longer than
    `within` seconds."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        marker, output = root / "marker", root / "log"
        began = time.perf_counter()
        with output.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", *module, str(marker), directory],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            while not marker.exists():
                if process.poll() is not None:
                    tail = output.read_text(errors="replace")[-4000:]
                    raise RuntimeError(f"the {name} exited:\n{tail}")
                if time.perf_counter() - began > within:
                    raise TimeoutError(f"the {name} did not read everything")
                time.sleep(MARK_POLL_S)
            return time.perf_counter() - began, marker.read_text()
        finally:
            stop_process(process)
