"""Kafka security settings: inconsistent combinations are refused at start-up with a clear
message, and the worker and duanka's own clients get the same connection options."""

import ssl
from pathlib import Path

import pytest
from faust.auth import SASLCredentials, SSLCredentials
from pydantic import ValidationError

from duanka.kafka_security import KafkaSecurity
from duanka.settings import Settings

CA = Path(ssl.get_default_verify_paths().openssl_cafile)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"security_protocol": "SASL_SSL", "sasl_username": "u"}, "needs sasl_username and"),
        ({"sasl_username": "u", "sasl_password": "p"}, "not used with PLAINTEXT"),
        ({"ssl_cafile": str(CA)}, "TLS files are not used with PLAINTEXT"),
        ({"security_protocol": "SSL", "ssl_certfile": str(CA)}, "go together"),
        ({"security_protocol": "SSL", "ssl_cafile": "/nowhere/ca.pem"}, "not a readable file"),
    ],
)
def test_inconsistent_settings_are_refused(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        KafkaSecurity.model_validate(fields)


def test_plaintext_by_default() -> None:
    assert KafkaSecurity().credentials() is None
    assert KafkaSecurity().client_options() == {"security_protocol": "PLAINTEXT"}


def test_scram_over_tls_for_the_worker_and_the_clients() -> None:
    security = KafkaSecurity(
        security_protocol="SASL_SSL",
        sasl_username="duanka-worker",
        sasl_password="secret",  # type: ignore[arg-type]
        ssl_cafile=CA,
    )
    credentials = security.credentials()
    assert isinstance(credentials, SASLCredentials)
    options = security.client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "duanka-worker"
    assert options["sasl_plain_password"] == "secret"
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_tls_alone_gives_ssl_credentials() -> None:
    security = KafkaSecurity(security_protocol="SSL", ssl_cafile=CA)
    assert isinstance(security.credentials(), SSLCredentials)
    assert security.client_options()["security_protocol"] == "SSL"


def test_settings_read_the_block_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUANKA_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("DUANKA_KAFKA__SASL_USERNAME", "duanka-dev")
    monkeypatch.setenv("DUANKA_KAFKA__SASL_PASSWORD", "duanka-dev-password")
    options = Settings().kafka_client_options()
    assert options["bootstrap_servers"] == ["127.0.0.1:9092"]
    assert options["sasl_plain_username"] == "duanka-dev"
    assert "duanka-dev-password" not in repr(Settings())
