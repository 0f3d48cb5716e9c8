"""Arguments and output of `duanka simulate`: to Kafka (paced) or to a replay file."""

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import sys
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from duanka.settings import Settings
from duanka.simulator.scenario import PATTERN_SPAN, Scenario, ScenarioConfig, SimulatedMessage

DELIVERY_TIMEOUT_MS = 120_000
"""How long a message may wait for the brokers before the run fails."""
ENDLESS_START = timedelta(days=30)
"""How far back an endless run starts: at an hour a second it reaches the present after
about 12 minutes, and goes on in real time."""


class DistinctTimestamps:
    """Record timestamps (ms) that follow the wall clock but never repeat: the worker merges
    partitions by timestamp, and two messages stamped in the same millisecond could be read
    in either order. (Past 1,000 messages/s they run ahead of the clock.)"""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        self._last = max(time.time_ns() // 1_000_000, self._last + 1)
        return self._last


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `duanka simulate`."""
    parser.add_argument(
        "--rate",
        type=float,
        default=200.0,
        help="background events per second of real time (default 200)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=3600.0,
        help="simulated seconds per real second (default 3600: an hour a second)",
    )
    parser.add_argument("--events", type=int, default=None, help="stop after N background events")
    parser.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument(
        "--start",
        type=datetime.fromisoformat,
        default=None,
        help="simulated start time, RFC 3339 (default: so that a run of --events or "
        "--duration ends now; an endless run starts 30 days ago)",
    )
    parser.add_argument(
        "--injection-rate",
        type=float,
        default=0.02,
        help="chance per background event of injecting a typology or near miss (0.02)",
    )
    parser.add_argument(
        "--dispositions",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="institutions report back on some alerts (default); --no-dispositions leaves that out",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write a replay file (JSON Lines) instead of producing to Kafka",
    )
    parser.add_argument(
        "--truth",
        type=Path,
        default=None,
        help="write the injected (rule, subject) pairs, and the warnings expected by id, as "
        "JSON Lines",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Generate the scenario and send it where asked; returns the exit status."""
    if args.rate <= 0 or args.speed <= 0:
        print("duanka simulate: --rate and --speed must be positive", file=sys.stderr)
        return 2
    if not 0 <= args.injection_rate <= 1:
        print("duanka simulate: --injection-rate must be within [0, 1]", file=sys.stderr)
        return 2
    seconds_per_event = args.speed / args.rate
    span = simulated_span(args.events, args.duration, args.speed, seconds_per_event)
    now = datetime.now(UTC)
    if args.start is None:
        start = now - ENDLESS_START if span is None else now - span
    elif args.start.tzinfo is None:
        print("duanka simulate: --start needs an explicit UTC offset", file=sys.stderr)
        return 2
    else:
        start = args.start
        if args.out is not None and span is not None and start + span > now:
            print(
                f"duanka simulate: --start {start.isoformat()} with this many events ends "
                f"{(start + span - now).total_seconds() / 86400:.1f} days after now, and "
                "replay rejects events from the future; start earlier, or leave --start out",
                file=sys.stderr,
            )
            return 2
    seed = args.seed if args.seed is not None else int(time.time())
    config = ScenarioConfig(
        seed,
        start,
        seconds_per_event=seconds_per_event,
        injection_rate=args.injection_rate,
        dispositions=args.dispositions,
    )
    scenario = Scenario(config)
    limit = args.events
    if args.out is not None:
        if limit is None:
            print("duanka simulate: --out needs --events", file=sys.stderr)
            return 2
        with args.out.open("wb") as out:
            for message in _complete(scenario, limit):
                out.write(orjson.dumps(message.as_replay_line()) + b"\n")
    else:
        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(_produce(settings, scenario, args.rate, limit, args.duration))
        except KafkaError as exc:
            print(f"duanka simulate: a message was not delivered: {exc!r}", file=sys.stderr)
            return 1
    if args.truth is not None:
        write_truth(scenario, args.truth)
    print(
        f"duanka simulate: seed {seed}, {len(scenario.truth)} injected patterns, "
        f"{len(scenario.expected)} warnings expected by id",
        file=sys.stderr,
    )
    return 0


def write_truth(scenario: Scenario, path: Path) -> None:
    """One line per expected (rule, subject) with its injection (`gang`), then one per
    alert expected by id (`alert_id`, and `flag_alert_id`: the flag it must name, or null
    for any)."""
    with path.open("wb") as out:
        for rule, kind, subject in sorted(scenario.truth):
            gang = scenario.gangs[(kind, subject)]
            line = {"rule": rule, "kind": kind, "id": subject, "gang": gang}
            out.write(orjson.dumps(line) + b"\n")
        for expected in scenario.expected:
            gang = scenario.gangs[(expected.kind, expected.id)]
            out.write(orjson.dumps({**dataclasses.asdict(expected), "gang": gang}) + b"\n")


def simulated_span(
    events: int | None, duration: float | None, speed: float, seconds_per_event: float
) -> timedelta | None:
    """How much simulated time a run may cover, with the injected patterns it starts
    completed (None: endless). With both limits, the shorter one."""
    spans = []
    if events is not None:
        spans.append(events * seconds_per_event)
    if duration is not None:
        spans.append(duration * speed)
    return timedelta(seconds=min(spans)) + PATTERN_SPAN if spans else None


def _complete(scenario: Scenario, background_events: int) -> Iterator[SimulatedMessage]:
    """N background events with what was injected among them, then every injected pattern
    finished."""
    yield from itertools.islice(scenario.messages(), background_events)
    yield from scenario.pending()


async def _produce(
    settings: Settings,
    scenario: Scenario,
    rate: float,
    limit: int | None,
    duration: float | None,
) -> None:
    """Produce at `rate` messages per second, never before a message's event time. Every
    message is delivered, or the run fails: a broker outage shorter than
    DELIVERY_TIMEOUT_MS only delays the stream."""
    producer = AIOKafkaProducer(
        **settings.kafka_client_options(), linger_ms=5, request_timeout_ms=DELIVERY_TIMEOUT_MS
    )
    await producer.start()
    began = time.monotonic()
    deliveries: deque[asyncio.Future[Any]] = deque()
    stamp = DistinctTimestamps()
    try:
        messages = scenario.messages() if limit is None else _complete(scenario, limit)
        for sent, message in enumerate(messages):
            elapsed = time.monotonic() - began
            if duration is not None and elapsed >= duration:
                break
            wait = max(sent / rate - elapsed, (message.at - datetime.now(UTC)).total_seconds())
            if wait > 0:
                await asyncio.sleep(wait)
            delivery = await producer.send(
                settings.topic(message.topic),
                key=message.key.encode(),
                value=message.encoded_value(),
                timestamp_ms=stamp.next(),
            )
            deliveries.append(delivery)
            while deliveries and deliveries[0].done():
                deliveries.popleft().result()  # raises the failure of a lost message
        await asyncio.gather(*deliveries)
    finally:
        await producer.stop()
