"""A worker authenticates to Kafka with SCRAM-SHA-512 (the local broker's SASL listener and
its development user, deploy/local/kafka.sh) and works as over plaintext; with a wrong
password it stops at once and says why."""

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.integration.conftest import BOOTSTRAP, Kafka, RunningWorker, module_worker
from tests.integration.test_worker import burst, of, produce

pytestmark = pytest.mark.integration

SASL_BOOTSTRAP = os.environ.get("DUANKA_TEST_SASL_BOOTSTRAP", "127.0.0.1:9094")
SCRAM = {
    "DUANKA_BROKER": f"kafka://{SASL_BOOTSTRAP}",
    "DUANKA_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "DUANKA_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
    "DUANKA_KAFKA__SASL_USERNAME": "duanka-dev",
    "DUANKA_KAFKA__SASL_PASSWORD": "duanka-dev-password",
}


@pytest.fixture(scope="module")
def scram_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorker]:
    yield from module_worker(tmp_path_factory, "scram-worker", **SCRAM)


async def test_a_worker_logged_in_with_scram_catches_a_burst(
    kafka: Kafka, scram_worker: RunningWorker
) -> None:
    farmer = burst("scram-farmer", 5)
    await produce(kafka, scram_worker, farmer)  # producers use the plaintext listener
    alerts = await kafka.alerts(scram_worker, lambda a: len(of("scram-farmer", a)) >= 1)
    assert [a["rule"] for a in of("scram-farmer", alerts)][:1] == ["bulk_sim_opener"]
    assert BOOTSTRAP != SASL_BOOTSTRAP


def test_a_wrong_password_stops_the_worker_with_a_clear_error() -> None:
    environment = {
        **os.environ,
        **SCRAM,
        "DUANKA_KAFKA__SASL_PASSWORD": "not-the-password",
        "DUANKA_TOPIC_PREFIX": "it-wrong-password.",
    }
    done = subprocess.run(
        [sys.executable, "-m", "duanka", "worker"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "cannot connect to Kafka (SASL_PLAINTEXT SCRAM-SHA-512 as 'duanka-dev')" in done.stderr
    assert "invalid credentials" in done.stderr
