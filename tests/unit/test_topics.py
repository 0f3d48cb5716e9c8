"""The catalogue names the tables' changelogs exactly as Faust does, so the topics created
before the worker starts are the ones its tables use."""

import pytest

from schemas.alerts import SubjectKind
from services.detector.app import create_detector
from services.detector.core.routing import SUBJECT_KINDS
from services.settings import Settings
from services.topics import COMPACTED, catalogue, changelog_topic


@pytest.mark.parametrize("kind", SUBJECT_KINDS)
def test_a_changelog_is_named_as_faust_names_it(kind: SubjectKind) -> None:
    settings = Settings(topic_prefix="t-")
    table = create_detector(settings).tables[kind]
    assert table.changelog_topic.get_topic_name() == changelog_topic(settings, kind)


def test_the_catalogue_creates_every_changelog_compacted() -> None:
    settings = Settings()
    configs = {spec.name: spec.configs for spec in catalogue(settings)}
    for kind in SUBJECT_KINDS:
        assert configs[changelog_topic(settings, kind)] == COMPACTED
