"""Event time as integer epoch milliseconds: compact in state, exact in comparisons."""

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime (sub-millisecond precision is dropped)."""
    return (moment - _EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    """The UTC datetime of epoch milliseconds."""
    return _EPOCH + ms * _MS


def duration_ms(duration: timedelta) -> int:
    """A timedelta in whole milliseconds."""
    return duration // _MS
