"""What the broker benchmarks share: the local broker, workers started and stopped as the
integration tests do, and waiting until a worker group has committed everything."""

import asyncio
import time

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
