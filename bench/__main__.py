"""`make bench`: run every benchmark, print a table, write bench/results.json.

The core runs in this process; end to end, scale-out, memory and latency run workers against
the local broker, which `make bench` starts. Lengths, all environment variables:

- DUANKA_BENCH_EVENTS: the core's events (default 1,000,000);
- DUANKA_BENCH_E2E_EVENTS: end to end, one worker (default 1,000,000);
- DUANKA_BENCH_SCALE_EVENTS: scale-out, one worker and then two (default 200,000);
- DUANKA_BENCH_IDENTITIES: newcomers for the memory run (default 1,000,000);
- DUANKA_BENCH_LATENCY_SECONDS: each paced latency run (default 10).

A worker handles a couple of thousand events a second here, so the defaults take about
half an hour."""

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench import core, e2e, latency, memory

RESULTS = Path(__file__).parent / "results.json"
LATENCY_RATES = (2_000, 5_000)


def main() -> int:
    core_events = int(os.environ.get("DUANKA_BENCH_EVENTS", "1000000"))
    e2e_events = int(os.environ.get("DUANKA_BENCH_E2E_EVENTS", "1000000"))
    scale_events = int(os.environ.get("DUANKA_BENCH_SCALE_EVENTS", "200000"))
    identities = int(os.environ.get("DUANKA_BENCH_IDENTITIES", "1000000"))
    latency_seconds = float(os.environ.get("DUANKA_BENCH_LATENCY_SECONDS", "10"))
    cores = os.cpu_count()

    measured = core.run(core_events)
    one = e2e.run(e2e_events, workers=1)
    scale = [e2e.run(scale_events, workers=n, ceilings=False) for n in (1, 2)]
    paced = {rate: latency.run(rate, latency_seconds) for rate in LATENCY_RATES}
    held = memory.run(identities)

    results = {
        "machine": {
            "cores": cores,
            "python": platform.python_version(),
            "date": datetime.now(UTC).date().isoformat(),
        },
        "core": measured.as_json(),
        "e2e": one.as_json(),
        "latency": {f"rate_{rate}": run.as_json() for rate, run in paced.items()},
        "memory": held.as_json(),
        "scale_out": {
            "setup": f"{scale[0].events} simulated events preloaded on {scale[0].partitions} "
            f"partitions per input topic, drained by one worker and then by two; {cores} cores",
            "events": scale[0].events,
            "one_worker_events_per_s": round(scale[0].events_per_s),
            "two_workers_events_per_s": round(scale[1].events_per_s),
            "ratio": round(scale[1].events_per_s / scale[0].events_per_s, 2),
        },
    }
    RESULTS.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")

    rows = [
        (f"core: events/s ({measured.events:,} events)", f"{measured.events_per_s:,.0f}"),
        ("core: admit (native fast path), µs per event", f"{measured.admit_us:.1f}"),
        ("core: reference decode, µs per event", f"{measured.decode_us:.1f}"),
        ("core: reference validate, µs per event", f"{measured.validate_us:.1f}"),
        ("core: rules (native engine), µs per event", f"{measured.rules_us:.1f}"),
        ("core: rules (Python engine), µs per event", f"{measured.reference_rules_us:.1f}"),
        (f"e2e: events/s, one worker ({one.events:,} events)", f"{one.events_per_s:,.0f}"),
        ("e2e: ceiling, aiokafka read + decode, events/s", f"{one.ceiling_events_per_s:,.0f}"),
        ("e2e: worker / ceiling", f"{one.ratio:.4f}"),
        ("e2e: ceiling, no-op Faust agent, events/s", f"{one.faust_noop_events_per_s or 0:,.0f}"),
        ("e2e: worker / no-op Faust agent", f"{one.faust_noop_ratio or 0:.3f}"),
        (
            "e2e: ceiling, core in an aiokafka loop, events/s",
            f"{one.core_consumer_events_per_s or 0:,.0f}",
        ),
        ("e2e: worker RSS after the run, MiB", f"{max(one.drain.rss_mib):,.0f}"),
        (
            f"scale-out: events/s, one worker ({scale[0].events:,} events)",
            f"{scale[0].events_per_s:,.0f}",
        ),
        ("scale-out: events/s, two workers", f"{scale[1].events_per_s:,.0f}"),
        *(
            (f"latency at {rate:,}/s: p50 / p99 / max, ms", _latency_cell(run))
            for rate, run in paced.items()
        ),
        (
            f"memory: worker RSS, MiB ({held.subjects['identity']:,} identities)",
            f"{held.rss_mib:,.0f}",
        ),
        ("memory: RocksDB, MiB", f"{held.drain.store_bytes / 2**20:,.0f}"),
        ("memory: RocksDB bytes per key", f"{held.bytes_per_key:,.0f}"),
    ]
    print(f"machine: {cores} cores, Python {platform.python_version()}")
    for name, value in rows:
        print(f"  {name:<56} {value:>18}")
    print(f"written to {RESULTS}")
    return 0


def _latency_cell(run: latency.LatencyResult) -> str:
    return (
        f"{run.percentile(0.5):,.0f} / {run.percentile(0.99):,.0f} / {max(run.latencies_ms):,.0f}"
    )


if __name__ == "__main__":
    sys.exit(main())
