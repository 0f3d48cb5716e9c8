"""How duanka authenticates to Kafka: plaintext, TLS (optionally with a client certificate),
or SASL with SCRAM over plaintext or TLS. One settings block (`DUANKA_KAFKA__*`) feeds the
Faust worker and every aiokafka client duanka opens itself (topic admin, simulator, alert
tail), so they all connect the same way."""

import ssl
from pathlib import Path
from typing import Any, Literal, Self

from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from faust.types.auth import CredentialsT
from pydantic import BaseModel, SecretStr, model_validator

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]


class KafkaSecurity(BaseModel):
    """Kafka connection security. Files are read when a connection is made."""

    security_protocol: Protocol = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    """CA bundle to verify the brokers with (the system's when unset)."""
    ssl_certfile: Path | None = None
    """Client certificate, for brokers that authenticate clients by TLS."""
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        sasl = self.security_protocol.startswith("SASL")
        tls = self.security_protocol.endswith("SSL")
        if sasl and (not self.sasl_username or self.sasl_password is None):
            raise ValueError(f"{self.security_protocol} needs sasl_username and sasl_password")
        if not sasl and (self.sasl_username or self.sasl_password is not None):
            raise ValueError(
                f"a SASL username or password is not used with {self.security_protocol}"
            )
        files = (self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile)
        if not tls and any(files):
            raise ValueError(f"TLS files are not used with {self.security_protocol}")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together")
        for path in filter(None, files):
            if not path.is_file():
                raise ValueError(f"{path} is not a readable file")
        return self

    def credentials(self) -> CredentialsT | None:
        """Faust's broker credentials; None for plaintext."""
        if self.security_protocol == "PLAINTEXT":
            return None
        context = self._ssl_context() if self.security_protocol.endswith("SSL") else None
        if self.security_protocol == "SSL":
            return SSLCredentials(context)
        assert self.sasl_username is not None and self.sasl_password is not None
        return SASLCredentials(
            username=self.sasl_username,
            password=self.sasl_password.get_secret_value(),
            ssl_context=context,
            mechanism=self.sasl_mechanism,
        )

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients, the same as the worker's."""
        return dict(credentials_to_aiokafka_auth(self.credentials()))

    def describe_failure(self, error: KafkaError | OSError) -> str:
        """A one-line explanation of a failed connection, naming what was tried."""
        how = str(self.security_protocol)
        if self.security_protocol.startswith("SASL"):
            how += f" {self.sasl_mechanism} as {self.sasl_username!r}"
        return f"cannot connect to Kafka ({how}): {type(error).__name__}: {error}"

    def _ssl_context(self) -> ssl.SSLContext:
        context: ssl.SSLContext = create_ssl_context(
            cafile=None if self.ssl_cafile is None else str(self.ssl_cafile),
            certfile=None if self.ssl_certfile is None else str(self.ssl_certfile),
            keyfile=None if self.ssl_keyfile is None else str(self.ssl_keyfile),
            password=None
            if self.ssl_key_password is None
            else self.ssl_key_password.get_secret_value(),
        )
        return context
