"""The Dockerfile passes hadolint and keeps the promises docs/operations.md makes of the image; the
Compose file points at files that exist and at pinned images."""

import re

import yaml

from tests.deploy.conftest import DEPLOY, ROOT, run, tool

DOCKERFILE = ROOT / "Dockerfile"


def test_hadolint_is_clean() -> None:
    run(tool("hadolint"), str(DOCKERFILE))


def final_stage() -> list[str]:
    lines = DOCKERFILE.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    assert len(starts) >= 2, "multi-stage: a build stage and a final one"
    return lines[starts[-1] :]


def test_images_are_pinned_to_a_python_version() -> None:
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert bases and all(re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+( AS \w+)?", b) for b in bases)


def test_the_final_stage_runs_as_a_user_with_a_healthcheck_and_no_compilers() -> None:
    stage = "\n".join(final_stage())
    assert re.search(r"^USER 10001:10001$", stage, flags=re.MULTILINE)
    assert "HEALTHCHECK" in stage and "/healthz" in stage
    assert 'ENTRYPOINT ["duanka"]' in stage
    assert not re.search(r"apt-get install|gcc|build-essential", stage)


def test_dependencies_are_installed_from_the_hashed_lock() -> None:
    text = DOCKERFILE.read_text()
    assert "--require-hashes" in text and "requirements-runtime.lock" in text
    lock = (ROOT / "requirements-runtime.lock").read_text()
    assert "--hash=sha256:" in lock and "pytest" not in lock


def test_compose_builds_this_repository_and_mounts_what_exists() -> None:
    compose_file = DEPLOY / "compose" / "compose.yaml"
    compose = yaml.safe_load(compose_file.read_text())
    services = compose["services"]
    assert {"kafka", "worker", "prometheus"} <= set(services)
    assert (compose_file.parent / services["worker"]["build"]["context"] / "Dockerfile").exists()
    for volume in services["prometheus"]["volumes"]:
        source = volume.split(":")[0]
        assert (compose_file.parent / source / "prometheus.yml").exists()
    for name in ("kafka", "prometheus"):
        image = services[name]["image"]
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image), image


def test_the_native_core_is_compiled_in_a_stage_of_its_own() -> None:
    text = DOCKERFILE.read_text()
    assert "maturin build --release --locked" in text
    assert "COPY --from=wheel /wheels /wheels" in text
    assert not re.search(r"cargo|rustup|maturin", "\n".join(final_stage()))
