"""`make run` (deploy/local/run.sh) for a short while: a worker, simulated carriers and banks
on the local broker, and alerts printed as they arrive; everything it started is stopped."""

import os
import re
import socket
import subprocess
from typing import get_args

import pytest

from schemas.alerts import RuleName
from tests.deploy.conftest import ROOT
from tests.integration.conftest import require_broker

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_demo_prints_alerts_and_cleans_up() -> None:
    require_broker()
    environment = {**os.environ, "DURATION": "20", "DUANKA_WEB_PORT": str(free_port())}
    environment.pop("DUANKA_TOPIC_PREFIX", None)
    done = subprocess.run(
        ["deploy/local/run.sh"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = r"^\d\d:\d\d:\d\d [! ]{3} (?:medium|high|critical) +([a-z_]+) "
    rules = set(re.findall(line, done.stdout, flags=re.MULTILINE))
    assert rules, f"no alert printed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert rules <= set(get_args(RuleName))
    assert "run: stopping" in done.stderr
