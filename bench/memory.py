"""Memory: what one worker holds after a million distinct identities. Newcomers' SIM
activations (`Scenario.newcomers`: each by another person, on a new number and device) are
preloaded in the input topic, one worker drains them, and then its resident memory and its
RocksDB directory are measured; bytes per key are the directory's size over the subjects
the events concern."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.core import ReadMessage, as_read
from bench.e2e import Drain, distinct_subjects, drain, preloaded
from duanka.simulator.scenario import Scenario, ScenarioConfig

SEED = 13
NEWCOMER_SECONDS = 0.25
"""Event time between activations: a million of them span three days, inside the
identity's shortest window (seven days), so no state is expired before it is measured."""


@dataclass(frozen=True)
class MemoryResult:
    """One worker after draining the activations of `subjects["identity"]` newcomers."""

    events: int
    drain: Drain
    subjects: dict[str, int]

    @property
    def rss_mib(self) -> float:
        return self.drain.rss_mib[0]

    @property
    def bytes_per_key(self) -> float:
        return self.drain.store_bytes / sum(self.subjects.values())

    def as_json(self) -> dict[str, object]:
        return {
            "setup": f"one worker after draining {self.events} SIM activations, each by "
            "another identity on a new number and device; RocksDB tables",
            "identities": self.subjects["identity"],
            "subjects": self.subjects,
            "rss_mib": round(self.rss_mib, 1),
            "rocksdb_bytes": self.drain.store_bytes,
            "bytes_per_key": round(self.bytes_per_key),
            "events_per_s": round(self.events / self.drain.seconds),
        }


def newcomers(identities: int) -> list[ReadMessage]:
    """The activations of `identities` newcomers, as the (topic, key, value) a worker reads."""
    start = datetime.now(UTC) - timedelta(days=30)
    scenario = Scenario(ScenarioConfig(SEED, start, seconds_per_event=NEWCOMER_SECONDS))
    return as_read(scenario.newcomers(identities))


def run(identities: int) -> MemoryResult:
    """Preload the activations of `identities` newcomers; drain them with one worker."""
    messages = newcomers(identities)
    with preloaded(messages) as settings:
        drained_by = drain(settings.topic_prefix, workers=1)
    return MemoryResult(len(messages), drained_by, distinct_subjects(messages))
