"""The broker benchmarks measure what they say, on short runs: a worker drains the whole
preloaded backlog, the ceiling reads it all, memory is sampled from the live worker, and
latencies come from alerts the paced events raised."""

import pytest

from bench import e2e, latency, memory
from tests.integration.conftest import require_broker

pytestmark = pytest.mark.integration


def test_end_to_end_drains_the_backlog_and_reads_the_ceilings() -> None:
    require_broker()
    result = e2e.run(1_500)
    assert result.events > 1_500  # background events and the patterns they started
    assert 0 < result.events_per_s < result.ceiling_events_per_s
    assert result.drain.store_bytes > 0 and min(result.drain.rss_mib) > 10
    summary = result.as_json()
    assert summary["workers"] == 1
    noop, core = result.faust_noop_events_per_s, result.core_consumer_events_per_s
    assert noop is not None and core is not None
    assert 0 < noop < result.ceiling_events_per_s and core > 0
    assert summary["faust_noop_ratio"] == round(result.events_per_s / noop, 3)


def test_scale_out_runs_skip_the_ceilings_of_faust_and_the_core() -> None:
    require_broker()
    summary = e2e.run(500, ceilings=False).as_json()
    assert summary["events_per_s"] > 0
    assert (
        summary["faust_noop_events_per_s"] is None and summary["core_consumer_events_per_s"] is None
    )


def test_memory_is_measured_after_every_newcomer_is_held() -> None:
    require_broker()
    result = memory.run(identities=2_000)
    assert result.subjects == {"identity": 2_000, "account": 0, "device": 2_000, "msisdn": 2_000}
    assert result.rss_mib > 10
    assert 0 < result.bytes_per_key < result.drain.store_bytes
    assert result.as_json()["identities"] == 2_000


def test_latency_comes_from_the_alerts_of_paced_events() -> None:
    require_broker()
    result = latency.run(rate=500, seconds=5)
    assert result.events == 2_500
    assert result.latencies_ms and min(result.latencies_ms) >= 0
    summary = result.as_json()
    assert summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"]
