"""Event time as epoch milliseconds, with the last answer kept."""

from datetime import timedelta

from duanka.detector.core.clock import duration_ms, from_ms, to_ms
from tests.factories import T0


def test_each_moment_gets_its_own_milliseconds_whatever_was_asked_before() -> None:
    later = T0 + timedelta(hours=1)
    assert to_ms(T0) == to_ms(T0) == to_ms(later) - 3_600_000
    assert to_ms(T0) == round(T0.timestamp() * 1000)
    assert from_ms(to_ms(later)) == later


def test_durations_in_milliseconds() -> None:
    assert duration_ms(timedelta(days=7)) == duration_ms(timedelta(days=7)) == 604_800_000
    assert duration_ms(timedelta(seconds=1.5)) == 1_500
