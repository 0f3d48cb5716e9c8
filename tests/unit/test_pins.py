"""A worker runs only on the Faust and aiokafka versions duanka was built against."""

import logging
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from duanka.detector import worker
from duanka.detector.patches import pins
from duanka.settings import Settings

ROOT = Path(__file__).parents[2]


def test_pyproject_pins_exactly_the_versions_the_worker_checks() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = dict(d.split("==") for d in project["dependencies"] if "==" in d)
    assert {name: pinned[name] for name in pins.PINNED} == pins.PINNED


def test_the_installed_versions_are_the_pinned_ones() -> None:
    assert pins.mismatches() == []


def test_a_worker_on_another_version_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = metadata.version
    monkeypatch.setattr(
        metadata, "version", lambda name: "0.16.0" if name == "faust-streaming" else real(name)
    )
    with caplog.at_level(logging.ERROR):
        assert worker.run(Settings(broker="kafka://127.0.0.1:1")) == 2
    assert "faust-streaming 0.16.0, duanka needs 0.15.3" in caplog.text
