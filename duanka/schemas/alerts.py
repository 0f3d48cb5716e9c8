"""Output messages: alerts that institutions act on, and dead letters for rejected input.

Alerts are at schema version 2, which adds what cases join on: the entities an alert's
evidence names, the account holder and the counterparties. A version 1 alert still reads
as one (without those), so consumers of either version keep working."""

from typing import Annotated, Final, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from duanka.schemas.events import Message
from duanka.schemas.types import Code, Id, Identity, Timestamp

SCHEMA_VERSION: Final = 2

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
    "payment_to_flagged",
    "layering_cycle",
    "scatter_gather",
    "complicit_outlet",
]
Severity = Literal["medium", "high", "critical"]
SubjectKind = Literal["identity", "msisdn", "account", "device", "outlet"]
ActionKind = Literal[
    "block_msisdn", "freeze_account", "deny_new_services", "review", "warn_customer"
]
EntityKind = Literal["identity", "msisdn", "account", "device", "outlet", "company"]

MAX_EVIDENCE_EVENTS = 50
MAX_ENTITIES = 50
"""The most ids an alert lists per entity kind, and of counterparties (the counts are
whole)."""
AlertId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class Subject(Message):
    """Who or what an alert is about."""

    kind: SubjectKind
    id: str


class Window(Message):
    """The event-time interval (start, end] the rule looked at."""

    start: Timestamp
    end: Timestamp


EntityIds = Annotated[list[str], Field(max_length=MAX_ENTITIES)]
Count = Annotated[int, Field(ge=0)]


class Entities(Message):
    """Per kind, the ids the evidence events name, sorted, at most MAX_ENTITIES each."""

    identities: EntityIds = Field(default_factory=list)
    msisdns: EntityIds = Field(default_factory=list)
    accounts: EntityIds = Field(default_factory=list)
    devices: EntityIds = Field(default_factory=list)
    outlets: EntityIds = Field(default_factory=list)
    companies: EntityIds = Field(default_factory=list)


class EntityCounts(Message):
    """Per kind, how many distinct ids the evidence events name."""

    identities: Count = 0
    msisdns: Count = 0
    accounts: Count = 0
    devices: Count = 0
    outlets: Count = 0
    companies: Count = 0


ENTITY_FIELDS: Final[dict[EntityKind, str]] = {
    "identity": "identities",
    "msisdn": "msisdns",
    "account": "accounts",
    "device": "devices",
    "outlet": "outlets",
    "company": "companies",
}
"""The field of `Entities` and `EntityCounts` holding each kind."""


class Evidence(Message):
    """The events behind an alert, so that an analyst can check it, and what they name.

    `entities` holds the alert's subject and every identity, number, account, device,
    outlet and company its events name; the account at the other end of a transfer is not
    an entity but a counterparty (it may be a victim's). `holder` is the identity that
    opened the alert's account, when that opening is known. None of these is in a version 1
    alert."""

    event_ids: Annotated[list[Id], Field(max_length=MAX_EVIDENCE_EVENTS)]
    count: Count
    distinct: Count
    amount_minor: Count = 0
    entities: Entities | None = None
    entity_counts: EntityCounts | None = None
    holder: Identity | None = None
    counterparties: Annotated[list[Id], Field(max_length=MAX_ENTITIES)] = Field(
        default_factory=list
    )
    flag_alert_id: AlertId | None = None
    """For `payment_to_flagged`: the latest alert (or confirmed alert) that flagged the
    receiving account."""


class Action(Message):
    """What an institution should do; `institution` None means every institution."""

    action: ActionKind
    target: str
    institution: Code | None


class Alert(Message):
    """A detection, published on `alerts` and on `alerts.<institution>` for each action's
    institution. `alert_id` is derived from the rule, the subject and the triggering event,
    so a re-processed event yields the same id and consumers can deduplicate."""

    schema_version: Literal[1, 2] = SCHEMA_VERSION
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

    @model_validator(mode="after")
    def _entities_from_version_2(self) -> Self:
        if self.schema_version < 2:
            return self
        entities = self.evidence.entities
        if entities is None or self.evidence.entity_counts is None:
            raise ValueError("a version 2 alert names its entities and their counts")
        if self.subject.id not in getattr(entities, ENTITY_FIELDS[self.subject.kind]):
            raise ValueError("a version 2 alert's subject is among its entities")
        return self


DeadLetterReason = Literal[
    "too_large",
    "not_utf8",
    "not_json",
    "invalid",
    "from_future",
    "key_mismatch",
    "internal_error",
    "unknown_alert",
    "repeated_disposition",
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
