"""What a disposition does to subjects: the same whether replay's linker derives it from the
alert it holds or the partition that raised the alert derives it from what it kept; and a
partition applies a disposition offered only if it raised the alert before its place."""

from datetime import UTC, datetime

import pytest

from duanka.detector.bundle import Forward
from duanka.detector.core.cases import CaseLinker
from duanka.detector.core.clock import from_ms
from duanka.detector.core.disposal import Raised, derive, raised
from duanka.detector.core.intake import Appeal, Confirmation
from duanka.detector.core.ordering import Key
from duanka.detector.core.policy import Policy
from duanka.detector.subjects import offered
from tests.unit.test_cases import NOW, alert
from tests.unit.test_dispositions import DEVICE_ALERT, disposition

ACCOUNT_ALERT = alert("m", "mule_fan_in", ("account", "icbc:m"), at=NOW, holder="f" * 64)
IDENTITY_ALERT = alert("b", "bulk_sim_opener", ("identity", "p1"), at=NOW)
RAISED_AT = Key(1_000, 50_000, 1, "transfers/0", 7)
"""Where the item that raised the alert went in the partition's order."""
OFFERED_AT = Key(2_000, 51_000, 1, "dispositions/3", 4)


def offer(of: object, outcome: str = "confirmed") -> Forward:
    given = disposition(of, outcome)
    return Forward(given.alert_id.encode(), "flag", "dispositions", 3, 4, 51_000, given)


def kept(*alerts: object, place: Key = RAISED_AT) -> dict[str, Raised]:
    return {a.alert_id: raised(a, place) for a in alerts}  # type: ignore[attr-defined,misc]


def test_replay_and_the_partition_derive_the_same() -> None:
    linker = CaseLinker.of(Policy())
    for given in (ACCOUNT_ALERT, IDENTITY_ALERT):
        linker.link(given, datetime.now(UTC))
    for given, outcome in ((ACCOUNT_ALERT, "confirmed"), (IDENTITY_ALERT, "false_positive")):
        decided = disposition(given, outcome)
        entry = raised(given, RAISED_AT)
        assert entry is not None
        assert derive(entry, decided) == linker.derived(decided) != []


def test_a_confirmation_flags_the_account_and_an_appeal_lifts_from_the_window_end() -> None:
    confirmation = derive(kept(ACCOUNT_ALERT)[ACCOUNT_ALERT.alert_id], disposition(ACCOUNT_ALERT))
    assert confirmation == [
        Confirmation(
            "icbc:m",
            ACCOUNT_ALERT.alert_id,
            "mule_fan_in",
            "icbc",
            disposition(ACCOUNT_ALERT).decided_at,
            "f" * 64,
        )
    ]
    entry = kept(IDENTITY_ALERT)[IDENTITY_ALERT.alert_id]
    [appeal] = derive(entry, disposition(IDENTITY_ALERT, "false_positive"))
    assert isinstance(appeal, Appeal) and appeal.listed_at == from_ms(entry.at)
    assert derive(entry, disposition(IDENTITY_ALERT, "confirmed")) == []  # acts on accounts


def test_only_alerts_about_accounts_and_identities_are_kept() -> None:
    assert raised(DEVICE_ALERT, RAISED_AT) is None


def test_an_offer_goes_to_the_alert_s_subject_from_where_the_disposition_was_read() -> None:
    forward = offered(kept(ACCOUNT_ALERT).get, offer(ACCOUNT_ALERT), OFFERED_AT)
    assert forward is not None
    assert (forward.key, forward.stream) == (b"icbc:m", "flag")
    assert (forward.topic, forward.partition, forward.offset, forward.written) == (
        "dispositions",
        3,
        4,
        51_000,
    )
    assert isinstance(forward.event, Confirmation)


def test_an_offer_does_nothing_where_the_alert_was_not_raised_before_it() -> None:
    """Not raised here (another partition holds its subject), raised after its place (read
    again after a crash, the partition's states may be ahead of its commit), or not acting
    on the kind."""
    assert offered({}.get, offer(ACCOUNT_ALERT), OFFERED_AT) is None
    later = Key(2_000, 51_000, 1, "transfers/0", 9)
    assert offered(kept(ACCOUNT_ALERT, place=later).get, offer(ACCOUNT_ALERT), OFFERED_AT) is None
    wrong = offer(ACCOUNT_ALERT, "false_positive")
    assert offered(kept(ACCOUNT_ALERT).get, wrong, OFFERED_AT) is None


def test_an_offer_decided_before_the_events_that_raised_its_alert_does_nothing() -> None:
    """Its decision time puts it before them, wherever it was written: it cannot have
    decided on that alert."""
    written_before = Key(3_000, 50_500, 1, "sim-activations/0", 2)
    assert (
        offered(kept(ACCOUNT_ALERT, place=written_before).get, offer(ACCOUNT_ALERT), OFFERED_AT)
        is None
    )


def test_any_other_event_goes_as_it_came() -> None:
    confirmation = derive(kept(ACCOUNT_ALERT)[ACCOUNT_ALERT.alert_id], disposition(ACCOUNT_ALERT))
    forward = Forward(b"icbc:m", "flag", "dispositions", 3, 4, 51_000, confirmation[0])
    assert offered({}.get, forward, OFFERED_AT) is forward


def test_an_alert_raised_survives_its_stored_form_and_anything_else_is_refused() -> None:
    entry = kept(ACCOUNT_ALERT)[ACCOUNT_ALERT.alert_id]
    assert Raised.from_json(entry.to_json()) == entry
    assert Raised.from_json(entry.to_json()).place == tuple(RAISED_AT)
    for bad in (None, [], ["device", "x", "r", 1, None, list(RAISED_AT)], [*entry.to_json(), 1]):
        with pytest.raises(ValueError, match="alert raised"):
            Raised.from_json(bad)
