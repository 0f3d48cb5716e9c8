"""Output messages: alerts that institutions act on, and dead letters for rejected input."""

from typing import Annotated, Final, Literal

from pydantic import Field, StringConstraints

from schemas.events import Message
from schemas.types import Code, Id, Timestamp

SCHEMA_VERSION: Final = 1

RuleName = Literal[
    "bulk_sim_opener",
    "bulk_account_opener",
    "bulk_company_accounts",
    "shared_device",
    "mule_pass_through",
    "mule_fan_in",
    "mule_fan_out",
    "new_account_velocity",
    "borrowed_phone",
    "watchlisted_identity",
]
Severity = Literal["medium", "high", "critical"]
SubjectKind = Literal["identity", "msisdn", "account", "device"]
ActionKind = Literal["block_msisdn", "freeze_account", "deny_new_services", "review"]

MAX_EVIDENCE_EVENTS = 50
AlertId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class Subject(Message):
    """Who or what an alert is about."""

    kind: SubjectKind
    id: str


class Window(Message):
    """The event-time interval (start, end] the rule looked at."""

    start: Timestamp
    end: Timestamp


class Evidence(Message):
    """The events behind an alert, so that an analyst can check it."""

    event_ids: Annotated[list[Id], Field(max_length=MAX_EVIDENCE_EVENTS)]
    count: Annotated[int, Field(ge=0)]
    distinct: Annotated[int, Field(ge=0)]
    amount_minor: Annotated[int, Field(ge=0)] = 0


class Action(Message):
    """What an institution should do; `institution` None means every institution."""

    action: ActionKind
    target: str
    institution: Code | None


class Alert(Message):
    """A detection, published on `alerts` and on `alerts.<institution>` for each action's
    institution. `alert_id` is derived from the rule, the subject and the triggering event,
    so a re-processed event yields the same id and consumers can deduplicate."""

    schema_version: Literal[1] = SCHEMA_VERSION
    alert_id: AlertId
    rule: RuleName
    severity: Severity
    subject: Subject
    trigger_event_id: Id
    window: Window
    evidence: Evidence
    actions: list[Action]
    summary: str
    detected_at: Timestamp


DeadLetterReason = Literal[
    "too_large",
    "not_utf8",
    "not_json",
    "invalid",
    "from_future",
    "key_mismatch",
    "internal_error",
]


class DeadLetter(Message):
    """An input message that could not be accepted, with the bytes as they arrived.

    `raw` (and `key`) are the original bytes as text when they are valid UTF-8, else base64;
    `raw_encoding`/`key_encoding` say which. At most the first 64 KiB of each are kept, so
    that a dead letter always fits on its topic; `raw_size`/`key_size` give the original
    length, and topic, partition and offset find the whole message. `reason` is a coarse
    class for metrics and routing; `error` is the precise message.
    """

    topic: str
    partition: Annotated[int, Field(ge=0)]
    offset: Annotated[int, Field(ge=0)]
    key: str | None
    key_encoding: Literal["utf-8", "base64"] = "utf-8"
    reason: DeadLetterReason
    error: str
    raw: str | None
    raw_encoding: Literal["utf-8", "base64"] = "utf-8"
    raw_size: Annotated[int, Field(ge=0)] = 0
    key_size: Annotated[int, Field(ge=0)] = 0
    received_at: Timestamp
