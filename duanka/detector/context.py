"""The worker's context: its settings, app, topics and states, handed to every
stage, timer and hook. A leaf: it imports none of them (`app` wires them all)."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

import faust

from duanka.detector.case_links import CaseLinks
from duanka.detector.metrics import Metrics
from duanka.detector.partitions import SubjectPartitions
from duanka.detector.progress import InputProgress
from duanka.detector.state_store import SubjectStates
from duanka.schemas.alerts import SubjectKind
from duanka.settings import Settings
from duanka.topics import MONTH, TopicSpec, ensure_topic, institution_alerts_topic


@dataclass(frozen=True, slots=True)
class Detector:
    """One configured worker: the Faust app and the channels its agents use."""

    settings: Settings
    app: faust.App
    inputs: Any
    subject_events: dict[SubjectKind, Any]
    states: dict[SubjectKind, SubjectStates]
    alerts: Any
    case_alerts: Any
    """Every alert again, on one partition, for the case linker (`linking`)."""
    cases: Any
    case_links: CaseLinks
    dead_letters: Any
    watchlist: Any
    metrics: Metrics
    institution_topics: dict[str, Any]
    """`alerts.<institution>` topics already created, by institution."""
    partitions: SubjectPartitions
    """The held events and the watermark of each subject-topic partition held here."""
    input_progress: InputProgress
    """How far this worker has forwarded the input partitions it reads."""
    creating: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while an institution's alert topic is created."""

    async def institution_alerts(self, institution: str) -> Any:
        """The institution's alert topic, created on first use (institutions are named by
        data, so they cannot be listed ahead); one creation at a time."""
        topic = self.institution_topics.get(institution)
        if topic is None:
            async with self.creating:
                topic = self.institution_topics.get(institution)
                if topic is None:
                    name = institution_alerts_topic(self.settings, institution)
                    await ensure_topic(self.settings, TopicSpec(name, MONTH))
                    topic = self.institution_topics[institution] = raw_topic(self.app, name)
        return topic


def raw_topic(app: faust.App, *names: str, **kwargs: Any) -> Any:
    """A topic whose keys and values are bytes, as they are on the wire."""
    return app.topic(*names, key_type=bytes, value_type=bytes, **kwargs)
