"""The detection core alone: admission and all rules over simulated events in one process,
no broker, as `duanka replay` runs them. The time per event is split into its stages, each
measured over every batch, so each figure has the whole run as its sample. In the same run,
the Python reference over the same messages: its admission (decode, then validate), the
baseline of the native fast path, and its engine (`PythonMemory`), the baseline of the
native one (`NativeMemory`, what replay runs)."""

import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from duanka import gc_tuning
from duanka.detector.core.engine import Engine
from duanka.detector.core.intake import InputTopic, decode_admitted, validate_document
from duanka.detector.core.policy import Policy
from duanka.detector.core.subject_memory import PythonMemory
from duanka.replay.replayer import Replayer
from duanka.schemas.codec import parse_json
from duanka.simulator.scenario import Scenario, ScenarioConfig, SimulatedMessage

ReadMessage = tuple[InputTopic, bytes, bytes | None]
"""An input message as a worker reads it: topic, key, value (None: a tombstone)."""
SEED = 7
BATCH = 1000
"""Events applied between expiry sweeps, as `duanka replay` does."""


@dataclass(frozen=True)
class CoreResult:
    """Events per second of the whole core, and microseconds per event per stage."""

    events: int
    events_per_s: float
    """Of admission and every rule, as replay runs them."""
    admit_us: float
    """Admission as replay and the worker do it: the native fast path, the reference for
    what it leaves."""
    decode_us: float
    """The reference's JSON decoding alone."""
    validate_us: float
    """The reference's validation alone."""
    rules_us: float
    """Routing, the engine and the case linker, as replay runs them (natively)."""
    reference_rules_us: float
    """The same with the Python engine."""
    alerts: int

    def as_json(self) -> dict[str, float | int | str]:
        return {
            "setup": f"{self.events} simulated events, one process, no broker",
            "events": self.events,
            "events_per_s": round(self.events_per_s),
            "admit_us_per_event": round(self.admit_us, 2),
            "decode_us_per_event": round(self.decode_us, 2),
            "validate_us_per_event": round(self.validate_us, 2),
            "rules_us_per_event": round(self.rules_us, 2),
            "reference_rules_us_per_event": round(self.reference_rules_us, 2),
            "alerts": self.alerts,
        }


def simulated(events: int) -> list[ReadMessage]:
    """`events` background events of the simulated world (and what they start), as the
    (topic, key, value) a worker reads."""
    start = datetime.now(UTC) - timedelta(days=400)
    scenario = Scenario(ScenarioConfig(SEED, start, seconds_per_event=5.0))
    return as_read(
        itertools.chain(itertools.islice(scenario.messages(), events), scenario.pending())
    )


def as_read(messages: Iterable[SimulatedMessage]) -> list[ReadMessage]:
    """Simulated messages as the (topic, key, value) a worker reads."""
    return [(cast(InputTopic, m.topic), m.key.encode(), m.encoded_value()) for m in messages]


def run(events: int) -> CoreResult:
    """Measure the core over `events` simulated events, a batch at a time as replay reads
    them; each stage's time is summed over the batches."""
    messages = simulated(events)
    gc_tuning.tune()  # as `duanka replay` does
    replayer = Replayer(Engine(Policy()))
    reference = Replayer(Engine(Policy()), memory=PythonMemory(Engine(Policy())))
    alerts, reference_alerts = 0, 0
    admit, decode, validate, rules, reference_rules = 0.0, 0.0, 0.0, 0.0, 0.0
    for first in range(0, len(messages), BATCH):
        batch = messages[first : first + BATCH]
        began = time.perf_counter()
        documents = [(t, k, None if raw is None else parse_json(raw)) for t, k, raw in batch]
        decoded = time.perf_counter()
        for t, k, document in documents:
            if document is not None:
                validate_document(t, k, document)
        validated = time.perf_counter()
        admitted = [decode_admitted(t, k, raw) for t, k, raw in batch]
        admitted_at = time.perf_counter()
        alerts += len(replayer.apply_batch(admitted))
        ruled = time.perf_counter()
        reference_alerts += len(reference.apply_batch(admitted))
        reference_ruled = time.perf_counter()
        decode += decoded - began
        validate += validated - decoded
        admit += admitted_at - validated
        rules += ruled - admitted_at
        reference_rules += reference_ruled - ruled
    if reference_alerts != alerts:
        raise RuntimeError(f"the reference raised {reference_alerts} alerts, not {alerts}")
    n = len(messages)
    return CoreResult(
        events=n,
        events_per_s=n / (admit + rules),
        admit_us=admit / n * 1e6,
        decode_us=decode / n * 1e6,
        validate_us=validate / n * 1e6,
        rules_us=rules / n * 1e6,
        reference_rules_us=reference_rules / n * 1e6,
        alerts=alerts,
    )
