"""Input messages: what carriers, banks and authorities produce into duanka's topics."""

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, model_validator

from duanka.schemas.types import (
    AmountMinor,
    Code,
    Currency,
    Id,
    Identity,
    Msisdn,
    Reason,
    Timestamp,
)


class Message(BaseModel):
    """Base of every wire message: strict, closed and immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class InputEvent(Message):
    """Fields every input event carries."""

    event_id: Id
    occurred_at: Timestamp
    source: Code


class SimActivation(InputEvent):
    """A carrier activated a SIM card for a subscriber (topic `sim-activations`)."""

    identity: Identity
    msisdn: Msisdn
    sim_kind: Literal["mno", "mvno", "iot"]
    channel: Literal["store", "online", "agent"]
    outlet: Id | None = None
    device: Id | None = None


class AccountOpen(InputEvent):
    """A bank or payment institution opened an account (topic `account-opens`)."""

    identity: Identity
    account: Id
    account_kind: Literal["personal", "corporate", "payment"]
    channel: Literal["counter", "online", "mobile", "agent"]
    msisdn: Msisdn | None = None
    device: Id | None = None
    company: Id | None = None

    @model_validator(mode="after")
    def _corporate_needs_company(self) -> Self:
        if self.account_kind == "corporate" and self.company is None:
            raise ValueError("a corporate account needs `company`")
        return self


class Transfer(InputEvent):
    """Money moved between two accounts (topic `transfers`)."""

    from_account: Id
    to_account: Id
    from_institution: Code
    to_institution: Code
    amount_minor: AmountMinor
    currency: Currency = "CNY"
    channel: Literal["online", "mobile", "atm", "counter", "third_party"]

    @model_validator(mode="after")
    def _accounts_differ(self) -> Self:
        if self.from_account == self.to_account:
            raise ValueError("`from_account` and `to_account` must differ")
        return self


class WatchlistEntry(Message):
    """An identity barred from opening new services (topic `watchlist`, compacted).

    A null value for an identity's key (a tombstone) lifts the listing.
    """

    identity: Identity
    reason: Reason
    listed_at: Timestamp
    expires_at: Timestamp | None = None
    source: Code

    @model_validator(mode="after")
    def _expires_after_listing(self) -> Self:
        if self.expires_at is not None and self.expires_at <= self.listed_at:
            raise ValueError("`expires_at` must be after `listed_at`")
        return self


Event = SimActivation | AccountOpen | Transfer
"""An input event that detection rules count."""
