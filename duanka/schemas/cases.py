"""Cases: alerts joined into gangs, published on the compacted `cases` topic (contract
version 2). A case is everything its alerts are connected by; its id derives from its
earliest alert, so it does not depend on the order alerts arrive in."""

from typing import Annotated, Final, Literal

from pydantic import Field

from duanka.schemas.alerts import AlertId, Count, EntityCounts, RuleName, Severity
from duanka.schemas.events import Message
from duanka.schemas.types import Code, Timestamp

CASE_SCHEMA_VERSION: Final = 2
MAX_MEMBERS = 200
"""The most ids a case lists per member kind, and of alert ids (the counts are whole)."""

CaseStatus = Literal["open", "merged", "confirmed", "closed"]
MemberIds = Annotated[list[str], Field(max_length=MAX_MEMBERS)]


class Members(Message):
    """Per kind, the entities and holders of a case's alerts, sorted, at most MAX_MEMBERS
    each. Counterparties are never members: they may be victims."""

    identities: MemberIds = Field(default_factory=list)
    msisdns: MemberIds = Field(default_factory=list)
    accounts: MemberIds = Field(default_factory=list)
    devices: MemberIds = Field(default_factory=list)
    outlets: MemberIds = Field(default_factory=list)
    companies: MemberIds = Field(default_factory=list)


class Case(Message):
    """One case as it stands. `merged` names the case it was joined into; such a record is
    the last one of its id."""

    schema_version: Literal[2] = CASE_SCHEMA_VERSION
    case_id: AlertId
    status: CaseStatus
    merged_into: AlertId | None = None
    members: Members
    member_counts: EntityCounts
    """Per kind, how many members the case has."""
    alerts: Annotated[list[AlertId], Field(max_length=MAX_MEMBERS)]
    alert_count: Count
    rules: dict[RuleName, int]
    institutions: list[Code]
    amount_minor: Count
    severity: Severity
    first_at: Timestamp
    last_at: Timestamp
    summary: str
    updated_at: Timestamp
