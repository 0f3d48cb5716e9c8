"""Prints the soak's failures per case at the end of the run."""

from collections import Counter, defaultdict
from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per case: runs, failures, and which runs failed."""
    runs: dict[str, Counter[str]] = defaultdict(Counter)
    failed: dict[str, list[str]] = defaultdict(list)
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if "tests/soak/" not in report.nodeid or (report.when != "call" and outcome != "error"):
                continue
            run = report.nodeid.split("[", 1)[-1].rstrip("]")
            case = run.rsplit("-", 2)[0]
            runs[case][outcome] += 1
            if outcome != "passed":
                failed[case].append(run)
    if not runs:
        return
    terminalreporter.section("soak: failures per case")
    for case, counts in sorted(runs.items()):
        total = sum(counts.values())
        bad = total - counts["passed"]
        which = f" ({', '.join(failed[case])})" if bad else ""
        terminalreporter.write_line(f"{case}: {bad} of {total} failed{which}")
