"""`make run` (deploy/local/run.sh) for a short while: a worker, simulated carriers and banks
on the local broker, the console's address, and alerts and cases printed as they arrive;
everything it started is stopped. A busy port is refused before anything starts."""

import os
import re
import socket
import subprocess
from typing import get_args

import pytest

from duanka.schemas.alerts import RuleName
from tests.deploy.conftest import ROOT
from tests.integration.conftest import require_broker

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_demo(port: int, timeout: float, **env: str) -> subprocess.CompletedProcess[str]:
    """`deploy/local/run.sh` with its web server on `port`, in a fresh world of topics."""
    environment = {**os.environ, "DUANKA_WEB_PORT": str(port), **env}
    environment.pop("DUANKA_TOPIC_PREFIX", None)
    return subprocess.run(
        ["deploy/local/run.sh"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_demo_prints_alerts_cases_and_the_console_and_cleans_up() -> None:
    require_broker()
    port = free_port()
    done = run_demo(port, timeout=180, DURATION="20")
    assert done.returncode == 0, done.stderr[-3000:]
    line = r"^\d\d:\d\d:\d\d [! ]{3} (?:medium|high|critical) +([a-z_]+) "
    rules = set(re.findall(line, done.stdout, flags=re.MULTILINE))
    assert rules, f"no alert printed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert rules <= set(get_args(RuleName))
    console = (
        rf"console at http://127.0.0.1:{port}/console/ \(log in with the token dev-[0-9a-f]{{24}}\)"
    )
    assert re.search(console, done.stderr), done.stderr[-2000:]
    cases = re.findall(
        r"^\d\d:\d\d:\d\d ##  case [0-9a-f]{12}… formed: ", done.stdout, re.MULTILINE
    )
    assert cases, f"no case printed:\n{done.stdout[-2000:]}"
    assert "run: stopping" in done.stderr


def test_the_demo_refuses_a_busy_port_before_starting_anything() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_demo(port, timeout=60)
    assert done.returncode == 1
    assert f"port {port} is already in use" in done.stderr
    assert "worker starting" not in done.stderr
