"""Detection thresholds and windows: the numbers of the contract's policy, all configurable.

Validated once at start-up, so that a nonsensical policy (a zero window, a threshold of 1)
stops the worker with a clear message instead of flooding institutions with alerts.
"""

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.types import CODE_PATTERN

PositiveDuration = Annotated[timedelta, Field(gt=timedelta(0))]
NonNegativeDuration = Annotated[timedelta, Field(ge=timedelta(0))]


class RulePolicy(BaseModel):
    """Common base: closed, so that a misspelt setting is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BulkSimOpenerPolicy(RulePolicy):
    """One identity activating many SIM cards: the card seller's signature."""

    min_activations: Annotated[int, Field(ge=2)] = 5
    window: PositiveDuration = timedelta(days=7)


class Policy(RulePolicy):
    """The whole detection policy. Defaults are the contract's."""

    allowed_lateness: NonNegativeDuration = timedelta(hours=1)
    """How far behind a subject's newest event time an event may arrive and still count."""

    watchlist_ttl: PositiveDuration = timedelta(days=5 * 365)
    """How long duanka's own listings last (the suspension period for selling cards)."""

    watchlist_source: Annotated[str, Field(pattern=CODE_PATTERN)] = "duanka"
    """The `source` code duanka uses for the listings it writes itself."""

    bulk_sim_opener: BulkSimOpenerPolicy = BulkSimOpenerPolicy()
