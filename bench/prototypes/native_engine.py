"""The engine in Python and in Rust over the same events: the simulated default mix's
activations, openings and transfers at every subject they concern, in order, with a
running watermark (watchlist records are left out). The Python engine keeps its states as
objects between events (no encoding, as replay does); the native one keeps them in Rust
and takes each event in the compact form a bundle carries. Both are held to each other by
`tests/unit/test_native_engine.py`.

Run as `python -m bench.prototypes.native_engine [EVENTS]`.
"""

import itertools
import sys
import time
from datetime import UTC, datetime, timedelta

import orjson

from duanka._native import Subjects
from duanka.detector.core.clock import to_ms
from duanka.detector.core.compact import compact
from duanka.detector.core.engine import Engine
from duanka.detector.core.intake import EVENT_MODELS
from duanka.detector.core.policy import Policy
from duanka.detector.core.routing import Address, route
from duanka.detector.core.state import SubjectState
from duanka.schemas.events import AccountOpen, SimActivation, Transfer
from duanka.simulator.scenario import Scenario, ScenarioConfig

Use = tuple[Address, SimActivation | AccountOpen | Transfer, bytes, int]
"""A subject's address, the event, its compact form and the watermark."""
KINDS = ("identity", "device", "msisdn", "account")


def uses(events: int) -> list[Use]:
    start = datetime.now(UTC) - timedelta(days=400)
    scenario = Scenario(ScenarioConfig(7, start, seconds_per_event=5.0))
    found: list[Use] = []
    watermark = 0
    for message in itertools.islice(scenario.messages(), events):
        model = EVENT_MODELS.get(message.topic)
        if model is None:
            continue
        event = model.model_validate(message.value)
        values = orjson.dumps(compact(message.topic, event))  # type: ignore[arg-type]
        watermark = max(watermark, to_ms(event.occurred_at) - 3_600_000)
        found += [(a, event, values, watermark) for a in route(event) if a.kind in KINDS]
    return found


def python(events: list[Use], policy: Policy) -> float:
    engine, states = Engine(policy), dict[tuple[str, str], SubjectState]()
    now = datetime.now(UTC)
    began = time.perf_counter()
    for address, event, _, watermark in events:
        key = address.kind, address.id
        outcome = engine.apply(
            address, states.get(key), event, now, origin="o/0", watermark=watermark
        )
        if outcome.state is None:
            states.pop(key, None)
        else:
            states[key] = outcome.state
    return time.perf_counter() - began


def native(events: list[Use], policy: Policy) -> float:
    subjects = {kind: Subjects(kind, policy.in_ms()) for kind in KINDS}
    now_us = time.time_ns() // 1000
    began = time.perf_counter()
    for address, _, values, watermark in events:
        subjects[address.kind].apply(
            address.id, address.stream, values, "o/0", None, watermark, now_us
        )
    return time.perf_counter() - began


def main() -> None:
    events = uses(int(sys.argv[1]) if len(sys.argv) > 1 else 300_000)
    policy = Policy()
    print(f"{len(events):,} events at identities, devices, numbers and accounts")
    for _ in range(2):
        for name, run in (("python", python), ("native", native)):
            seconds = run(events, policy)
            print(f"{name:>7}: {seconds / len(events) * 1e6:6.2f} µs per event")


if __name__ == "__main__":
    main()
