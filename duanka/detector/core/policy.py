"""Detection thresholds and windows: the numbers of the contract's policy, all configurable.

Validated once at start-up, so that a nonsensical policy (a zero window, a threshold of 1)
stops the worker with a clear message instead of flooding institutions with alerts.
"""

from datetime import timedelta
from typing import Annotated

import orjson
from pydantic import BaseModel, ConfigDict, Field

from duanka.schemas.types import CODE_PATTERN, CURRENCY_PATTERN, MAX_AMOUNT_MINOR

PositiveDuration = Annotated[timedelta, Field(gt=timedelta(0))]
NonNegativeDuration = Annotated[timedelta, Field(ge=timedelta(0))]
Threshold = Annotated[int, Field(ge=2, le=10_000)]
Money = Annotated[int, Field(ge=1, le=MAX_AMOUNT_MINOR)]


class RulePolicy(BaseModel):
    """Common base: closed, so that a misspelt setting is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BulkSimOpenerPolicy(RulePolicy):
    """One identity activating many SIM cards: the card seller's signature."""

    min_activations: Threshold = 5
    window: PositiveDuration = timedelta(days=7)


class BulkAccountOpenerPolicy(RulePolicy):
    """One identity opening many personal or payment accounts: the account farmer."""

    min_accounts: Threshold = 3
    window: PositiveDuration = timedelta(days=7)


class BulkCompanyAccountsPolicy(RulePolicy):
    """One legal representative opening corporate accounts for several companies."""

    min_companies: Threshold = 2
    window: PositiveDuration = timedelta(days=30)


class SharedDevicePolicy(RulePolicy):
    """Many identities on one handset or modem: a SIM farm or registration workshop."""

    min_identities: Threshold = 5
    window: PositiveDuration = timedelta(hours=24)


class MulePassThroughPolicy(RulePolicy):
    """Money that arrives and leaves again within the hour."""

    window: PositiveDuration = timedelta(hours=1)
    min_incoming_minor: Money = 500_000
    min_outgoing_ratio: Annotated[float, Field(gt=0, le=1)] = 0.8


class MuleFanPolicy(RulePolicy):
    """Many distinct counterparties in a day (fan-in collects, fan-out scatters)."""

    min_counterparties: Threshold = 10
    window: PositiveDuration = timedelta(hours=24)


class NewAccountVelocityPolicy(RulePolicy):
    """A freshly opened account that suddenly receives a lot."""

    max_account_age: PositiveDuration = timedelta(days=7)
    window: PositiveDuration = timedelta(hours=24)
    min_transfers: Threshold = 5
    min_amount_minor: Money = 5_000_000


class BorrowedPhonePolicy(RulePolicy):
    """An account opened with somebody else's recently activated number."""

    lookback: PositiveDuration = timedelta(days=180)


class PaymentToFlaggedPolicy(RulePolicy):
    """A payment into an account that a mule rule flagged."""

    flag_ttl: PositiveDuration = timedelta(days=30)
    """How long a mule rule's alert flags its account, from the alert's window end."""


class Policy(RulePolicy):
    """The whole detection policy. Defaults are the contract's."""

    allowed_lateness: NonNegativeDuration = timedelta(hours=1)
    """How far behind the newest event time its subject had from the same input partition an
    event may arrive and still count."""

    watchlist_ttl: PositiveDuration = timedelta(days=5 * 365)
    """How long duanka's own listings last (the suspension period for selling cards)."""

    watchlist_source: Annotated[str, Field(pattern=CODE_PATTERN)] = "duanka"
    """The `source` code duanka uses for the listings it writes itself."""

    currency: Annotated[str, Field(pattern=CURRENCY_PATTERN)] = "CNY"
    """Money sums count only transfers in this currency."""

    case_horizon: PositiveDuration = timedelta(days=180)
    """How far apart two alerts' window ends may be and still join one case."""

    disposition_grace: PositiveDuration = timedelta(days=7)
    """How long a disposition of an alert the case linker has not linked is held for it,
    in the time of the alerts linked: from the decision until alerts that much later have
    been linked; then it is rejected as of an unknown alert."""

    bulk_sim_opener: BulkSimOpenerPolicy = BulkSimOpenerPolicy()
    bulk_account_opener: BulkAccountOpenerPolicy = BulkAccountOpenerPolicy()
    bulk_company_accounts: BulkCompanyAccountsPolicy = BulkCompanyAccountsPolicy()
    shared_device: SharedDevicePolicy = SharedDevicePolicy()
    mule_pass_through: MulePassThroughPolicy = MulePassThroughPolicy()
    mule_fan_in: MuleFanPolicy = MuleFanPolicy()
    mule_fan_out: MuleFanPolicy = MuleFanPolicy()
    new_account_velocity: NewAccountVelocityPolicy = NewAccountVelocityPolicy()
    borrowed_phone: BorrowedPhonePolicy = BorrowedPhonePolicy()
    payment_to_flagged: PaymentToFlaggedPolicy = PaymentToFlaggedPolicy()

    def in_ms(self) -> bytes:
        """The policy as JSON with every duration in whole milliseconds: how the native
        core (`duanka._native.Subjects`) takes it."""
        return orjson.dumps(self.model_dump(), default=_ms)


def _ms(value: object) -> int:
    if isinstance(value, timedelta):
        return value // timedelta(milliseconds=1)
    raise TypeError(f"{type(value).__name__} is not JSON")
