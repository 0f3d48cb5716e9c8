"""Watermarks: per subject kind, the oldest newest event time of the input partitions
feeding it, so that partitions read days apart do not settle what a slow one still needs,
while a partition that stops delivering does not hold it back for ever."""

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from duanka.detector.core.clock import to_ms
from duanka.detector.core.watermark import FEEDING_TOPICS, CommittedWatermark, Watermark
from duanka.schemas.alerts import SubjectKind
from tests.factories import T0, account_open, activation, transfer

HOUR = timedelta(hours=1)


def test_the_watermark_is_the_oldest_partition_s_newest_event_time() -> None:
    watermark = Watermark()
    watermark.observe(account_open(at=T0 + 50 * HOUR), partition=0)
    watermark.observe(activation(at=T0 + 48 * HOUR), partition=0)
    watermark.observe(activation(at=T0), partition=1)
    watermark.observe(activation(at=T0 - HOUR), partition=1)  # older: partition 1 stays at T0
    assert watermark.value("identity") == to_ms(T0)
    watermark.observe(activation(at=T0 + 60 * HOUR), partition=1)
    assert watermark.value("identity") == to_ms(T0 + 48 * HOUR)


def test_unknown_until_every_feeding_topic_has_delivered() -> None:
    watermark = Watermark()
    assert watermark.value("account") is None
    watermark.observe(transfer("a", "b", 100, at=T0), partition=3)
    assert watermark.value("account") is None  # an opening read later may still precede it
    watermark.observe(account_open(at=T0 + HOUR))
    assert watermark.value("account") == to_ms(T0)


def test_unknown_until_every_partition_of_those_topics_has_delivered() -> None:
    watermark = Watermark({"sim-activations": 2, "account-opens": 1, "transfers": 3})
    watermark.observe(account_open(at=T0))
    watermark.observe(activation(at=T0 + 48 * HOUR), partition=0)
    assert watermark.value("identity") is None  # partition 1 may still bring old events
    watermark.observe(activation(at=T0 + HOUR), partition=1)
    assert watermark.value("identity") == to_ms(T0)


def test_only_topics_feeding_the_kind_count_for_it() -> None:
    watermark = Watermark()
    watermark.observe(activation(at=T0 + HOUR))
    watermark.observe(account_open(at=T0 + 2 * HOUR))
    watermark.observe(transfer("a", "b", 100, at=T0))
    assert watermark.value("identity") == to_ms(T0 + HOUR)
    assert watermark.value("account") == to_ms(T0)


def test_a_partition_that_stopped_delivering_no_longer_holds_it_back() -> None:
    watermark = Watermark(idle_after=4)
    watermark.observe(activation(at=T0), partition=0)
    watermark.observe(account_open(at=T0 + HOUR), partition=0)
    for hours in (2, 3):
        watermark.observe(activation(at=T0 + hours * HOUR), partition=1)
        assert watermark.value("identity") == to_ms(T0)
    watermark.observe(activation(at=T0 + 4 * HOUR), partition=1)  # 4 since partition 0's last
    assert watermark.value("identity") == to_ms(T0 + HOUR)


def test_a_feeding_topic_never_seen_stops_blocking_after_as_many_messages() -> None:
    watermark = Watermark(idle_after=3)
    for hours in range(2):
        watermark.observe(activation(at=T0 + hours * HOUR), partition=hours)
        assert watermark.value("device") is None
    watermark.observe(activation(at=T0 + 2 * HOUR), partition=0)
    assert watermark.value("device") == to_ms(T0 + HOUR)


def _by_definition(
    observed: list[tuple[str, int, int]], kind: SubjectKind, partitions: dict[str, int], idle: int
) -> int | None:
    """The watermark computed afresh from every message so far (topic, partition, time)."""
    origins: dict[tuple[str, int], tuple[int, int]] = {}
    for number, (topic, partition, at) in enumerate(observed, start=1):
        newest = origins.get((topic, partition), (at, 0))[0]
        origins[(topic, partition)] = (max(newest, at), number)
    feeding = FEEDING_TOPICS[kind]
    seen = len(observed)
    delivered = {t: sum(1 for (topic, _) in origins if topic == t) for t in feeding}
    if seen < idle and any(delivered[t] < partitions.get(t, 1) for t in feeding):
        return None
    live = [n for (t, _), (n, last) in origins.items() if t in feeding and seen - last < idle]
    return min(live) if live else None


@settings(max_examples=300, deadline=None)
@given(
    messages=st.lists(
        st.tuples(
            st.sampled_from(["sim-activations", "account-opens", "transfers"]),
            st.integers(0, 2),
            st.integers(0, 40),
            st.booleans(),
        ),
        max_size=60,
    ),
    idle=st.integers(1, 12),
)
def test_values_kept_between_messages_equal_the_definition(
    messages: list[tuple[str, int, int, bool]], idle: int
) -> None:
    """The watermark keeps each kind's value while messages cannot have changed it; asked
    at any point, it equals the value computed afresh."""
    partitions = {"sim-activations": 3, "account-opens": 2, "transfers": 3}
    watermark = Watermark(partitions, idle_after=idle)
    builders = {
        "sim-activations": lambda at: activation(at=at),
        "account-opens": lambda at: account_open(at=at),
        "transfers": lambda at: transfer("a", "b", 100, at=at),
    }
    observed: list[tuple[str, int, int]] = []
    for topic, partition, hours, asked in messages:
        partition %= partitions[topic]
        event = builders[topic](T0 + hours * HOUR)
        watermark.observe(event, partition)
        observed.append((topic, partition, to_ms(T0 + hours * HOUR)))
        if asked:
            for kind in FEEDING_TOPICS:
                assert watermark.value(kind) == _by_definition(observed, kind, partitions, idle)


def test_a_committed_watermark_counts_what_the_commit_has_passed() -> None:
    watermark = CommittedWatermark({"sim-activations": 1, "account-opens": 1})
    watermark.observe("account-opens", to_ms(T0), 0, 5)
    watermark.observe("sim-activations", to_ms(T0 + HOUR), 0, 3)  # applied out of order
    watermark.observe("sim-activations", to_ms(T0 + 9 * HOUR), 0, 7)
    watermark.committed(None)  # not known yet
    assert watermark.value("identity") is None
    watermark.committed(5)  # passed offset 3 only
    assert watermark.value("identity") is None  # account-opens has not delivered yet
    watermark.committed(6)
    assert watermark.value("identity") == to_ms(T0)
    watermark.observe("account-opens", to_ms(T0 + 10 * HOUR), 0, 8)
    watermark.committed(8)
    assert watermark.value("identity") == to_ms(T0)  # the opening at offset 8 is not passed
    watermark.committed(9)
    assert watermark.value("identity") == to_ms(T0 + 9 * HOUR)
