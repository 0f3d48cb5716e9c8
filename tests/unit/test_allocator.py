"""With the allocator settings, large buffers a worker frees go back to the system even
after glibc would have raised its map threshold; without them, they stay resident."""

import platform
import subprocess
import sys

import pytest

from duanka.detector import allocator

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the settings are glibc's"
)

FREED_AND_RESIDENT_MIB = """
import sys
from duanka.detector import allocator
if sys.argv[1] == "tuned":
    assert allocator.tune()
def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
mapped = bytearray(8 << 20)
del mapped  # freeing an 8 MiB map raises glibc's threshold above 512 KiB
before = rss_mib()
buffers = [bytearray(512 << 10) for _ in range(200)]  # 100 MiB of fetch-sized buffers
pinned = bytearray(4096)  # a small block of the heap, above them
del buffers
print(rss_mib() - before)
"""


def resident_after_freeing(mode: str) -> float:
    result = subprocess.run(
        [sys.executable, "-c", FREED_AND_RESIDENT_MIB, mode],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout)


def test_freed_large_buffers_leave_the_resident_set() -> None:
    assert resident_after_freeing("default") > 80
    assert resident_after_freeing("tuned") < 10


def test_tune_applies_on_glibc() -> None:
    assert allocator.tune()
