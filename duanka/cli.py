"""The `duanka` command."""

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from duanka import gc_tuning
from duanka.settings import PolicyFileError, Settings


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run one subcommand; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except (ValidationError, PolicyFileError) as exc:
        print(f"duanka: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    result: int = args.run(settings, args)
    return result


def build_parser() -> argparse.ArgumentParser:
    """The `duanka` command and its subcommands (docs/operations.md lists them)."""
    parser = argparse.ArgumentParser(
        prog="duanka", description="Catch SIM-card and bank-account supply to fraud gangs."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    worker = commands.add_parser("worker", help="run the detection worker")
    worker.set_defaults(run=_worker)

    topics = commands.add_parser("topics", help="create every topic duanka uses (idempotent)")
    topics.add_argument(
        "--delete", action="store_true", help="delete every topic of DUANKA_TOPIC_PREFIX instead"
    )
    topics.set_defaults(run=_topics)

    schemas = commands.add_parser("schemas", help="write the JSON Schema of every message")
    schemas.add_argument(
        "--out", type=Path, default=None, help="directory (default: duanka/schemas/json)"
    )
    schemas.set_defaults(run=_schemas)

    pseudo = commands.add_parser(
        "pseudonymize",
        help="ID numbers on stdin -> identity tokens on stdout (key: DUANKA_PSEUDONYM_KEY[_FILE])",
    )
    pseudo.set_defaults(run=_pseudonymize)

    simulate = commands.add_parser("simulate", help="produce simulated carrier traffic")
    from duanka.simulator.cli import add_arguments

    add_arguments(simulate)
    simulate.set_defaults(run=_simulate)

    replay = commands.add_parser("replay", help="detect over a JSON Lines history, no broker")
    replay.add_argument("input", type=Path, help="replay file ({topic, key, value} per line)")
    replay.add_argument("--out", type=Path, required=True, help="alerts, one JSON per line")
    replay.add_argument("--dead-letters", type=Path, default=None, help="rejected lines")
    replay.add_argument("--cases", type=Path, default=None, help="case records, one per line")
    replay.set_defaults(run=_replay)

    evaluate = commands.add_parser("evaluate", help="precision and recall per rule")
    evaluate.add_argument("--truth", type=Path, required=True, help="from simulate --truth")
    evaluate.add_argument("--alerts", type=Path, required=True, help="from replay or the topic")
    evaluate.add_argument("--cases", type=Path, default=None, help="from replay --cases")
    evaluate.set_defaults(run=_evaluate)

    alerts = commands.add_parser("alerts", help="print alerts as one-line summaries")
    alerts.add_argument("--from-beginning", action="store_true", help="not only new alerts")
    alerts.add_argument("--json", action="store_true", help="print the alerts' JSON")
    alerts.add_argument(
        "--cases", action="store_true", help="also a line for each case as it forms or grows"
    )
    alerts.set_defaults(run=_alerts)
    return parser


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from duanka.detector.worker import run

    return run(settings)


def _topics(settings: Settings, args: argparse.Namespace) -> int:
    from duanka.topics import delete_topics, ensure_topics

    if args.delete:
        try:
            deleted = asyncio.run(delete_topics(settings))
        except ValueError as exc:
            print(f"duanka topics: {exc}", file=sys.stderr)
            return 2
        print(f"deleted {len(deleted)} topic(s)")
        return 0
    created = asyncio.run(ensure_topics(settings))
    print(f"created {len(created)} topic(s){': ' + ', '.join(created) if created else ''}")
    return 0


def _schemas(settings: Settings, args: argparse.Namespace) -> int:
    from duanka.schemas.export import SCHEMA_DIR, write_all

    for path in write_all(args.out or SCHEMA_DIR):
        print(path)
    return 0


def _pseudonymize(settings: Settings, args: argparse.Namespace) -> int:
    """One token per input line; a bad line gets an empty output line (so outputs stay
    aligned with inputs), a message on stderr, and exit status 1."""
    from duanka.pseudonym import MIN_KEY_BYTES, IdNumberError, pseudonymize

    try:
        key = settings.pseudonym_key_bytes()
    except (ValueError, OSError) as exc:
        print(f"duanka pseudonymize: {exc}", file=sys.stderr)
        return 2
    if len(key) < MIN_KEY_BYTES:
        print(
            f"duanka pseudonymize: the key must be at least {MIN_KEY_BYTES} bytes", file=sys.stderr
        )
        return 2
    failures = 0
    for number, line in enumerate(sys.stdin, start=1):
        try:
            print(pseudonymize(line, key))
        except IdNumberError as exc:
            failures += 1
            print()
            print(f"duanka pseudonymize: line {number}: {exc}", file=sys.stderr)
    return 1 if failures else 0


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from duanka.simulator.cli import run

    return run(settings, args)


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from duanka.replay.cli import replay

    gc_tuning.tune()
    return replay(settings, args.input, args.out, args.dead_letters, args.cases)


def _evaluate(settings: Settings, args: argparse.Namespace) -> int:
    from duanka.replay.evaluate import evaluate

    return evaluate(args.truth, args.alerts, args.cases)


def _alerts(settings: Settings, args: argparse.Namespace) -> int:
    from duanka.alert_tail import tail

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            tail(settings, from_beginning=args.from_beginning, as_json=args.json, cases=args.cases)
        )
    return 0
