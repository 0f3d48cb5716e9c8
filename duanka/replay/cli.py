"""`duanka replay IN --out ALERTS [--dead-letters DL] [--cases CASES]`: files in, files out,
a summary. With `--cases`, every alert is linked into cases as the worker links them, and
every case record published is written, in order."""

import contextlib
import itertools
import sys
import time
from pathlib import Path
from typing import BinaryIO

from duanka.detector.core.engine import Engine
from duanka.replay.replayer import Replayer, ReplayStats
from duanka.schemas.alerts import DeadLetter
from duanka.schemas.cases import Case
from duanka.schemas.codec import encode
from duanka.settings import Settings

PROGRESS_EVERY_S = 0.5
BATCH_LINES = 1000


def replay(
    settings: Settings,
    source: Path,
    out: Path,
    dead_letters: Path | None,
    cases: Path | None = None,
) -> int:
    """Replay `source`; returns the exit status (1 when any line was dead-lettered)."""
    try:
        size = source.stat().st_size
        reader = source.open("rb")
    except OSError as exc:
        print(f"duanka replay: {exc}", file=sys.stderr)
        return 2
    replayer = Replayer(Engine(settings.policy), settings.max_clock_skew)
    began = time.monotonic()
    letters: BinaryIO | contextlib.nullcontext[None] = (
        dead_letters.open("wb") if dead_letters else contextlib.nullcontext()
    )
    case_file: BinaryIO | contextlib.nullcontext[None] = (
        cases.open("wb") if cases else contextlib.nullcontext()
    )
    with reader, out.open("wb") as alerts_out, letters as letters_out, case_file as cases_out:
        shown = began
        numbered = ((n, line) for n, line in enumerate(reader, start=1) if line.strip())
        while batch := list(itertools.islice(numbered, BATCH_LINES)):
            for alerts, letter in replayer.replay_batch(batch):
                alerts_out.writelines(encode(alert) + b"\n" for alert in alerts)
                if letter is not None and letters_out is not None:
                    letters_out.write(encode(letter) + b"\n")
            _write_later(replayer.take_letters(), replayer.take_cases(), letters_out, cases_out)
            if sys.stderr.isatty() and time.monotonic() - shown > PROGRESS_EVERY_S:
                shown = time.monotonic()
                _progress(reader.tell(), size, batch[-1][0])
        _write_later(replayer.finish(), replayer.take_cases(), letters_out, cases_out)
    elapsed = time.monotonic() - began
    print(summary(replayer.stats, elapsed), file=sys.stderr)
    if cases is not None:
        print(f"cases: {replayer.linker.case_count()}", file=sys.stderr)
    return 1 if sum(replayer.stats.dead_letters.values()) else 0


def _write_later(
    letters: list[DeadLetter],
    cases: list[Case],
    letters_out: BinaryIO | None,
    cases_out: BinaryIO | None,
) -> None:
    """Write the dead letters of held dispositions and the case records a batch made."""
    if letters_out is not None:
        letters_out.writelines(encode(letter) + b"\n" for letter in letters)
    if cases_out is not None:
        cases_out.writelines(encode(case) + b"\n" for case in cases)


def summary(stats: ReplayStats, elapsed_s: float) -> str:
    """Events per topic, dead letters, alerts per rule, dispositions, throughput."""
    events = sum(stats.events.values())
    lines = [
        f"replayed {events} events in {elapsed_s:.1f} s ({events / max(elapsed_s, 1e-9):,.0f}"
        " events/s)"
    ]
    lines += [f"  {topic:<18} {count:>10}" for topic, count in sorted(stats.events.items())]
    lines.append(f"dead letters: {sum(stats.dead_letters.values())}")
    lines += [f"  {reason:<18} {count:>10}" for reason, count in sorted(stats.dead_letters.items())]
    lines.append(f"late (not counted): {stats.late}, re-deliveries: {stats.duplicates}")
    lines.append(f"quiet subjects forgotten: {stats.expired}")
    lines.append(f"alerts: {sum(stats.alerts.values())}")
    lines += [f"  {rule:<22} {count:>6}" for rule, count in sorted(stats.alerts.items())]
    if stats.dispositions:
        lines.append(f"dispositions: {sum(stats.dispositions.values())}")
        lines += [
            f"  {rule:<22} {outcome:<15} {count:>6}"
            for (rule, outcome), count in sorted(stats.dispositions.items())
        ]
    return "\n".join(lines)


def _progress(done: int, size: int, lines: int) -> None:
    share = done / size if size else 1.0
    bar = "#" * int(share * 30)
    print(f"\r[{bar:<30}] {share:6.1%} {lines:,} lines", end="", file=sys.stderr, flush=True)
