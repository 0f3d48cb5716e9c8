"""The device subject's engine in Python and in Rust over the same events: the simulated
default mix's activations and openings at their devices, in order, with a running
watermark. The Python engine keeps its states as objects between events (no encoding, as
replay does); the native one keeps them in Rust and takes each event in the compact form a
bundle carries. Both are held to each other by `tests/unit/test_native_engine.py`.

Run as `python -m bench.prototypes.native_engine [EVENTS]`.
"""

import itertools
import sys
import time
from datetime import UTC, datetime, timedelta

import orjson

from duanka._native import DeviceSubjects
from duanka.detector.core.clock import duration_ms, to_ms
from duanka.detector.core.compact import compact
from duanka.detector.core.engine import Engine
from duanka.detector.core.policy import Policy
from duanka.detector.core.routing import Address, route
from duanka.detector.core.state import SubjectState
from duanka.schemas.events import AccountOpen, SimActivation
from duanka.simulator.scenario import Scenario, ScenarioConfig

Use = tuple[str, str, SimActivation | AccountOpen, bytes, int]
"""A device, its stream, the event, its compact form and the watermark."""


def uses(events: int) -> list[Use]:
    start = datetime.now(UTC) - timedelta(days=400)
    scenario = Scenario(ScenarioConfig(7, start, seconds_per_event=5.0))
    found: list[Use] = []
    watermark = 0
    for message in itertools.chain(itertools.islice(scenario.messages(), events)):
        if message.topic not in ("sim-activations", "account-opens"):
            continue
        model = SimActivation if message.topic == "sim-activations" else AccountOpen
        event = model.model_validate(message.value)
        values = orjson.dumps(compact(message.topic, event))  # type: ignore[arg-type]
        stream = "sim" if model is SimActivation else "open"
        watermark = max(watermark, to_ms(event.occurred_at) - 3_600_000)
        found += [
            (a.id, stream, event, values, watermark) for a in route(event) if a.kind == "device"
        ]
    return found


def python(events: list[Use], policy: Policy) -> float:
    engine, states = Engine(policy), dict[str, SubjectState]()
    now = datetime.now(UTC)
    began = time.perf_counter()
    for device, stream, event, _, watermark in events:
        outcome = engine.apply(
            Address("device", device, stream),
            states.get(device),
            event,
            now,
            origin="o/0",
            watermark=watermark,
        )
        if outcome.state is None:
            states.pop(device, None)
        else:
            states[device] = outcome.state
    return time.perf_counter() - began


def native(events: list[Use], policy: Policy) -> float:
    subjects = DeviceSubjects(
        duration_ms(policy.allowed_lateness),
        policy.shared_device.min_identities,
        duration_ms(policy.shared_device.window),
    )
    now_us = time.time_ns() // 1000
    began = time.perf_counter()
    for device, stream, _, values, watermark in events:
        subjects.apply(device, stream, values, "o/0", watermark, now_us)
    return time.perf_counter() - began


def main() -> None:
    events = uses(int(sys.argv[1]) if len(sys.argv) > 1 else 300_000)
    policy = Policy()
    print(f"{len(events):,} device events")
    for _ in range(2):
        for name, run in (("python", python), ("native", native)):
            seconds = run(events, policy)
            print(f"{name:>7}: {seconds / len(events) * 1e6:6.2f} µs per event")


if __name__ == "__main__":
    main()
