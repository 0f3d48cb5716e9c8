"""The catalogue names the tables' changelogs exactly as Faust does, so the topics created
before the worker starts are the ones its tables use; creating a topic on demand outlasts a
broker that fails or does not answer."""

import asyncio
import logging

import pytest
from aiokafka.errors import KafkaConnectionError

from duanka import topics
from duanka.detector.app import create_detector
from duanka.detector.core.routing import SUBJECT_KINDS
from duanka.schemas.alerts import SubjectKind
from duanka.settings import Settings
from duanka.topics import COMPACTED, MONTH, TopicSpec, catalogue, changelog_topic, ensure_topic


@pytest.mark.parametrize("kind", SUBJECT_KINDS)
def test_a_changelog_is_named_as_faust_names_it(kind: SubjectKind) -> None:
    settings = Settings(topic_prefix="t-")
    table = create_detector(settings).states[kind].table
    assert table.changelog_topic.get_topic_name() == changelog_topic(settings, kind)


def test_the_catalogue_creates_every_changelog_compacted() -> None:
    settings = Settings()
    configs = {spec.name: spec.configs for spec in catalogue(settings)}
    for kind in SUBJECT_KINDS:
        assert configs[changelog_topic(settings, kind)] == COMPACTED


async def test_creating_a_topic_is_retried_until_an_attempt_succeeds(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[list[TopicSpec] | None] = []

    async def flaky(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
        attempts.append(specs)
        if len(attempts) == 1:
            await asyncio.sleep(3600)  # a request the broker never answers
        if len(attempts) == 2:
            raise KafkaConnectionError("broker down")
        return []

    monkeypatch.setattr(topics, "ensure_topics", flaky)
    monkeypatch.setattr(topics, "RETRY_FIRST_S", 0.01)
    spec = TopicSpec("alerts.some-bank", MONTH)
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(ensure_topic(Settings(), spec, attempt_timeout=0.05), 5)
    assert attempts == [[spec]] * 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all("alerts.some-bank" in w for w in warnings)
