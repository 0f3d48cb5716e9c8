"""Constrained field types shared by every message of the wire contract.

Each type enforces one rule of the contract, so a model that uses it cannot be built from
input that breaks that rule. Models are validated in strict mode (no coercion from other
JSON types); timestamps are the one exception and get their own parser below.
"""

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints, WithJsonSchema

IDENTITY_PATTERN = r"^[0-9a-f]{64}$"
MSISDN_PATTERN = r"^\+[1-9][0-9]{6,14}$"
CODE_PATTERN = r"^[a-z0-9_-]{1,32}$"
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
RFC3339_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_RFC3339 = re.compile(RFC3339_PATTERN, re.IGNORECASE)

MAX_AMOUNT_MINOR = 10**13

Identity = Annotated[str, StringConstraints(pattern=IDENTITY_PATTERN)]
"""A pseudonymous person token: HMAC-SHA256 of the normalised ID number, lowercase hex."""

Msisdn = Annotated[str, StringConstraints(pattern=MSISDN_PATTERN)]
"""A phone number in E.164 form."""

Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
"""An institution or source code."""

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""Event, account, device, outlet and company identifiers."""

Currency = Annotated[str, StringConstraints(pattern=CURRENCY_PATTERN)]
"""An ISO 4217 alphabetic currency code."""

AmountMinor = Annotated[int, Field(ge=1, le=MAX_AMOUNT_MINOR)]
"""Money as an integer number of minor units (fen for CNY); never a float."""

Reason = Annotated[str, StringConstraints(min_length=1, max_length=500)]
"""Free text explaining a watchlisting."""


def _parse_rfc3339(value: Any) -> Any:
    """Accept only RFC 3339 strings with an explicit offset.

    Pydantic's own datetime parsing would also take epoch numbers and naive strings; the
    contract rejects both, because a naive time is ambiguous across provinces and producers.
    Values that are already aware datetimes (built in code, not decoded) pass through.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamp must carry an explicit UTC offset")
        return value
    if not isinstance(value, str):
        raise ValueError("timestamp must be an RFC 3339 string")
    if not _RFC3339.match(value):
        raise ValueError(
            "timestamp must be RFC 3339 with an explicit offset, e.g. 2026-11-28T09:15:00+08:00"
        )
    return datetime.fromisoformat(value)


Timestamp = Annotated[
    datetime,
    BeforeValidator(_parse_rfc3339),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN}),
]
"""An aware point in time, written as RFC 3339 with an explicit offset."""
