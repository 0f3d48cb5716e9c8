"""Every patch of Faust or aiokafka lives in `duanka.detector.patches`, each with its
header, and nothing else in the worker reads either framework's private state."""

import pkgutil
import re
from pathlib import Path

import pytest

from duanka.detector import patches

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(patches.__file__).parent
HEADER_FIELDS = ("- Patches:", "- Upstream:", "- Proof:", "- Remove when:")
PRIVATE = re.compile(
    r"\._(committed_offset|acked|gap|read_offset|active_partitions|buffered_partitions"
    r"|paused_partitions|thread|topics|iteritems|wait_on_metadata|new_offset|producer|db_for_partition|key_partition)\b"
    r"|_current_event"
    r"|\.perform_seek\s*=|RocksDBOptions\s*="
)
PATCH_MODULES = sorted(m.name for m in pkgutil.iter_modules([str(PACKAGE)]) if m.name != "pins")


@pytest.mark.parametrize("name", PATCH_MODULES)
def test_each_patch_has_its_header_and_its_proof_exists(name: str) -> None:
    text = (PACKAGE / f"{name}.py").read_text()
    header = text.split('"""')[1]
    for field in HEADER_FIELDS:
        assert field in header, f"{name}: no {field!r} in its header"
    proofs = re.findall(r"`(tests/[\w/]+\.py)`", header.split("- Proof:")[1])
    assert proofs, f"{name}: its proof names no test file"
    for proof in proofs:
        assert (ROOT / proof).is_file(), f"{name}: {proof} does not exist"


@pytest.mark.parametrize("name", PATCH_MODULES)
def test_the_package_lists_every_patch(name: str) -> None:
    assert f"| `{name}` |" in (patches.__doc__ or "")


def test_nothing_outside_the_package_touches_faust_s_private_state() -> None:
    outside = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in (ROOT / "duanka").rglob("*.py")
        if PACKAGE not in path.parents
        for match in PRIVATE.finditer(path.read_text())
    ]
    assert outside == []
