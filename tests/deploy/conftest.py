"""Checks of everything under deploy/ and of the Dockerfile, with the tools operators use
(`deploy/local/tools.sh` fetches promtool and kustomize; `make test` runs it first)."""

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
LOCAL_TOOLS = ROOT / ".local" / "tools" / "bin"


def tool(name: str) -> str:
    """The path of a command-line tool: on PATH, in the virtualenv (hadolint comes from
    PyPI) or fetched by deploy/local/tools.sh."""
    search = [str(Path(sys.executable).parent), str(LOCAL_TOOLS)]
    found = shutil.which(name) or shutil.which(name, path=":".join(search))
    if found is None:
        pytest.fail(f"{name} not found: run deploy/local/tools.sh (make test does)")
    return found


def run(*command: str, cwd: Path = ROOT) -> str:
    """Run a tool; fails the test with its output when it exits non-zero."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


@pytest.fixture(scope="session")
def rendered() -> list[dict[str, Any]]:
    """deploy/k8s rendered by kustomize (kubectl's when kubectl is installed)."""
    kubectl = shutil.which("kubectl")
    if kubectl is not None:
        output = run(kubectl, "kustomize", str(DEPLOY / "k8s"))
    else:
        output = run(tool("kustomize"), "build", str(DEPLOY / "k8s"))
    return [doc for doc in yaml.safe_load_all(output) if doc]
