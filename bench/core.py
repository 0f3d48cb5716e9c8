"""The detection core alone: decode, validate and all rules over simulated events in one
process, no broker. The time per event is split into its three stages, each measured over
every batch, so each figure has the whole run as its sample."""

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
    decode_us: float
    validate_us: float
    rules_us: float
    alerts: int

    def as_json(self) -> dict[str, float | int | str]:
        return {
            "setup": f"{self.events} simulated events, one process, no broker",
            "events": self.events,
            "events_per_s": round(self.events_per_s),
            "decode_us_per_event": round(self.decode_us, 2),
            "validate_us_per_event": round(self.validate_us, 2),
            "rules_us_per_event": round(self.rules_us, 2),
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
    alerts = 0
    stages = [0.0, 0.0, 0.0]
    for first in range(0, len(messages), BATCH):
        began = time.perf_counter()
        batch = messages[first : first + BATCH]
        documents = [(t, k, None if raw is None else parse_json(raw)) for t, k, raw in batch]
        decoded = time.perf_counter()
        admitted = [
            decode_admitted(t, k, None) if document is None else validate_document(t, k, document)
            for t, k, document in documents
        ]
        validated = time.perf_counter()
        alerts += len(replayer.apply_batch(admitted))
        ruled = time.perf_counter()
        stages[0] += decoded - began
        stages[1] += validated - decoded
        stages[2] += ruled - validated
    n = len(messages)
    return CoreResult(
        events=n,
        events_per_s=n / sum(stages),
        decode_us=stages[0] / n * 1e6,
        validate_us=stages[1] / n * 1e6,
        rules_us=stages[2] / n * 1e6,
        alerts=alerts,
    )
