"""glibc's allocator, set for a worker that takes megabytes from the network at a time.

Kafka fetch responses and bundles are buffers of hundreds of KiB to MiB. glibc serves a
block that large with its own memory map and unmaps it when freed, but raises that
threshold to the size of each such block freed, up to 32 MiB: from then on, large buffers
come from the heap, and a heap keeps its pages while anything above them lives, so the
worker's resident memory grew to the most it ever held at once. Fixing the threshold keeps
large buffers in maps of their own, returned when freed; two arenas (instead of eight per
core) keep the threads' free memory in fewer heaps.
"""

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
"""`mallopt` parameters, from glibc's malloc.h."""
MMAP_THRESHOLD_BYTES = 128 * 1024
"""glibc's own starting value, fixed."""
ARENAS = 2


def tune() -> bool:
    """Apply the settings to this process; False (and nothing changed) where the C library
    has no glibc `mallopt`."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_ARENA_MAX, ARENAS)
    )
    if not applied:
        log.warning("the C library refused the allocator settings; running with its defaults")
    return applied
