"""Event time as integer epoch milliseconds: compact in state, exact in comparisons."""

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_US = timedelta(microseconds=1)


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime (sub-millisecond precision is dropped). The
    last answer is kept: an event's time is asked for once per subject it concerns, and by
    its watermark, and a datetime never changes."""
    global _last
    last = _last  # one read: another thread may replace it
    if moment is last[0]:
        return last[1]
    ms = (moment - _EPOCH) // _MS
    _last = (moment, ms)
    return ms


_last: tuple[datetime, int] = (_EPOCH, 0)


def to_us(moment: datetime) -> int:
    """Epoch microseconds of an aware datetime: how the native core takes wall-clock times."""
    return (moment - _EPOCH) // _US


def from_ms(ms: int) -> datetime:
    """The UTC datetime of epoch milliseconds."""
    return _EPOCH + ms * _MS


def duration_ms(duration: timedelta) -> int:
    """A timedelta in whole milliseconds (rules ask for their policy's windows at every
    event, and there are only a few)."""
    ms = _DURATIONS.get(duration)
    if ms is None:
        ms = _DURATIONS[duration] = duration // _MS
    return ms


_DURATIONS: dict[timedelta, int] = {}
