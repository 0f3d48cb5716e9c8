"""All configuration in one place: environment variables with the prefix `DUANKA_`.

The detection policy can come from a YAML file named by `DUANKA_POLICY`; single values
override it with `__`, e.g. `DUANKA_POLICY__BULK_SIM_OPENER__MIN_ACTIVATIONS=6` or
`DUANKA_POLICY__ALLOWED_LATENESS=PT2H`. Durations are ISO 8601 (`P7D`, `PT1H`) or seconds.
"""

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from duanka.detector.core.policy import Policy
from duanka.kafka_security import KafkaSecurity
from duanka.schemas.types import Code

TOPIC_PREFIX_PATTERN = r"^[A-Za-z0-9._-]{0,100}$"
POLICY_FILE_VARIABLE = "DUANKA_POLICY"


class PolicyFileError(ValueError):
    """The policy file named by DUANKA_POLICY cannot be read."""


class _PolicyFile(PydanticBaseSettingsSource):
    """The `policy` section from the YAML file named by DUANKA_POLICY (below the environment,
    so single variables override the file)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get(POLICY_FILE_VARIABLE)
        if not path:
            return {}
        try:
            document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise PolicyFileError(f"{POLICY_FILE_VARIABLE}={path}: {exc}") from None
        if not isinstance(document, dict):
            raise PolicyFileError(f"{POLICY_FILE_VARIABLE}={path}: expected a mapping of settings")
        return {"policy": document}


class _EnvWithoutPolicyFile(EnvSettingsSource):
    """The environment, except DUANKA_POLICY itself, which names a file, not a value."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        variables = super()._load_env_vars()
        return {k: v for k, v in variables.items() if k != POLICY_FILE_VARIABLE.lower()}


class Settings(BaseSettings):
    """duanka's settings. Every field is an environment variable `DUANKA_<NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix="DUANKA_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    broker: str = "kafka://127.0.0.1:9092"
    """Kafka bootstrap servers, `kafka://host:port[;host:port…]`."""

    topic_prefix: Annotated[str, Field(pattern=TOPIC_PREFIX_PATTERN)] = ""
    """Prepended to every topic name and to the Faust app id (so also to the consumer group
    and internal topics): deployments or test runs sharing a cluster never meet."""

    partitions: Annotated[int, Field(ge=1, le=1024)] = 8
    """Partitions of every topic duanka creates; the unit of parallelism across workers."""

    replication_factor: Annotated[int, Field(ge=1, le=16)] = 1
    """Replication factor of every topic duanka creates."""

    store: Literal["rocksdb://", "memory://"] = "rocksdb://"
    """Where table state lives locally; both are backed by compacted changelog topics."""

    data_dir: Path = Path(".local/worker")
    """The worker's local state (RocksDB files)."""

    web_host: str = "0.0.0.0"
    web_port: Annotated[int, Field(ge=1, le=65535)] = 6066
    """HTTP port for health, readiness and (later) metrics and queries."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"

    max_clock_skew: Annotated[timedelta, Field(ge=timedelta(0))] = timedelta(minutes=5)
    """Events more than this far ahead of the wall clock are rejected as from the future."""

    pseudonym_key: SecretStr | None = None
    """The consortium key for identity tokens (`duanka pseudonymize`)."""

    pseudonym_key_file: Path | None = None
    """A file holding the consortium key, instead of `pseudonym_key`."""

    expiry_interval: Annotated[timedelta, Field(gt=timedelta(0))] = timedelta(minutes=5)
    """How often each worker looks for subjects that went quiet (wall clock; whether one
    has is decided on event time)."""

    session_timeout: Annotated[
        timedelta, Field(ge=timedelta(seconds=6), le=timedelta(minutes=5))
    ] = timedelta(seconds=15)
    """How long the group waits for a worker that stopped answering (killed, cut off)
    before its partitions go to the others or to its restarted self. Heartbeats come from
    the consumer's own thread, so a busy worker is not mistaken for a dead one."""

    ingest_lead: Annotated[int, Field(ge=1)] = 64
    """How many messages may wait unread on a partition of the worker's own topics (the
    subject topics, the case linker's) before its ingest stops reading input until they
    are read: how far ingest may run ahead of the stages after it."""

    kafka: KafkaSecurity = KafkaSecurity()
    """Kafka authentication and TLS, `DUANKA_KAFKA__SECURITY_PROTOCOL` and the like."""

    canonical_url: str | None = None
    """This worker's URL as the other workers reach it, for query API routing (Faust's
    `canonical_url`; default `http://<hostname>:<web_port>`)."""

    api_token: Annotated[SecretStr, Field(min_length=16)] | None = None
    """Bearer token for the query API (`/identities/{id}` and the like); unset: the API
    answers 503. At least 16 characters."""

    console_institution: Code = "afc"
    """The institution code the console records analysts' dispositions under: the
    anti-fraud centre's own, as an institution writing to `dispositions`."""

    console_session_lifetime: Annotated[
        timedelta, Field(ge=timedelta(minutes=5), le=timedelta(days=7))
    ] = timedelta(hours=8)
    """How long a console login lasts (one working day by default)."""

    policy: Policy = Policy()
    """Detection thresholds and windows (docs/rules.md)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then the policy file."""
        return (init_settings, _EnvWithoutPolicyFile(settings_cls), _PolicyFile(settings_cls))

    @field_validator("broker")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        if not value.startswith("kafka://") or len(value) <= len("kafka://"):
            raise ValueError("broker must look like kafka://host:port")
        return value

    @property
    def app_id(self) -> str:
        """Faust app id: the consumer group and the prefix of Faust's internal topics."""
        return f"{self.topic_prefix}duanka"

    @property
    def bootstrap_servers(self) -> list[str]:
        """`host:port` entries for aiokafka clients."""
        return self.broker.removeprefix("kafka://").replace(",", ";").split(";")

    def kafka_client_options(self) -> dict[str, Any]:
        """Keyword arguments every aiokafka client duanka opens needs: brokers and security."""
        return {"bootstrap_servers": self.bootstrap_servers, **self.kafka.client_options()}

    def topic(self, name: str) -> str:
        """The full name of one of duanka's topics."""
        return f"{self.topic_prefix}{name}"

    def pseudonym_key_bytes(self) -> bytes:
        """The consortium key, from `pseudonym_key` or `pseudonym_key_file`."""
        if self.pseudonym_key is not None:
            return self.pseudonym_key.get_secret_value().encode()
        if self.pseudonym_key_file is not None:
            return self.pseudonym_key_file.read_bytes().strip()
        raise ValueError("set DUANKA_PSEUDONYM_KEY or DUANKA_PSEUDONYM_KEY_FILE")
