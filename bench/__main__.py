"""`make bench`: run the benchmarks built so far, print a table, write bench/results.json.

Only the core benchmark exists yet; end to end, latency, memory and scale-out (issue 6) are
not built. DUANKA_BENCH_EVENTS sets the core run's length (default 1,000,000)."""

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench import core

RESULTS = Path(__file__).parent / "results.json"


def main() -> int:
    events = int(os.environ.get("DUANKA_BENCH_EVENTS", "1000000"))
    result = core.run(events)
    results = {
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "date": datetime.now(UTC).date().isoformat(),
        },
        "core": result.as_json(),
    }
    RESULTS.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    rows = [
        ("core: events/s (decode + validate + rules)", f"{result.events_per_s:,.0f}"),
        ("core: decode, µs per event", f"{result.decode_us:.1f}"),
        ("core: validate, µs per event", f"{result.validate_us:.1f}"),
        ("core: rules, µs per event", f"{result.rules_us:.1f}"),
    ]
    print(f"{result.events:,} simulated events, one process, {os.cpu_count()} cores")
    for name, value in rows:
        print(f"  {name:<46} {value:>10}")
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
