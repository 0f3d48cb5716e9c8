"""The wheel users install: one abi3 wheel (no compiler needed for any CPython from 3.11),
one importable package named for the project, with the native core and the data its code
reads at run time (the console's pages, the generated JSON Schema)."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        timeout=600,
    )
    (built,) = out.glob("duanka-*.whl")
    return zipfile.ZipFile(built)


def test_one_abi3_wheel_with_the_native_core(wheel: zipfile.ZipFile) -> None:
    assert wheel.filename is not None
    assert "-cp311-abi3-" in Path(wheel.filename).name
    assert "duanka/_native.abi3.so" in wheel.namelist()


def test_one_top_level_package(wheel: zipfile.ZipFile) -> None:
    tops = {Path(name).parts[0] for name in wheel.namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"duanka"}


def test_run_time_data_is_inside(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "duanka/console/static/cases.html" in names
    assert "duanka/schemas/json/alert.schema.json" in names
    assert "duanka/py.typed" in names
