"""The compact form ingest forwards events in gives back, unvalidated, exactly the event
validation gave: every field, with its time zone, and the same JSON."""

from datetime import timedelta, timezone

import orjson
import pytest

from duanka.detector.core.compact import compact, expand
from duanka.detector.core.compact import order_time as compact_order_time
from duanka.detector.core.intake import (
    Admitted,
    Appeal,
    Confirmation,
    InputTopic,
    WatchlistUpdate,
    decode_admitted,
)
from duanka.detector.core.watermark import order_time
from duanka.schemas.dispositions import Disposition
from tests.factories import T0, account_open, activation, listing, transfer

SHANGHAI = timezone(timedelta(hours=8))
HOUR = timedelta(hours=1)
LISTED = listing("cy", T0, T0 + timedelta(days=9))


def admitted(topic: InputTopic, event: Admitted) -> Admitted:
    """The event as ingest admits it: validated from its JSON."""
    if isinstance(event, WatchlistUpdate):
        value = None if event.entry is None else event.entry.model_dump_json().encode()
        return decode_admitted(topic, event.identity.encode(), value)
    return decode_admitted(topic, None, event.model_dump_json().encode())


EVENTS: list[tuple[InputTopic, Admitted]] = [
    ("sim-activations", activation("ann", T0.astimezone(SHANGHAI), n=3)),
    ("account-opens", account_open("bob", T0, kind="corporate")),
    ("transfers", transfer("acct-1", "acct-2", 125_00, T0 + timedelta(microseconds=7))),
    (
        "watchlist",
        WatchlistUpdate(listing("cy", T0).identity, listing("cy", T0, T0 + timedelta(days=9))),
    ),
    ("watchlist", WatchlistUpdate(listing("cy", T0).identity, None)),
]


@pytest.mark.parametrize(("topic", "event"), EVENTS)
def test_an_event_comes_back_as_validation_gave_it(topic: InputTopic, event: Admitted) -> None:
    validated = admitted(topic, event)
    expanded = expand(topic, orjson.loads(orjson.dumps(compact(topic, validated))))
    assert expanded == validated
    if isinstance(validated, WatchlistUpdate):
        assert isinstance(expanded, WatchlistUpdate)
        validated, expanded = validated.entry, expanded.entry  # type: ignore[assignment]
        if validated is None:
            return
    assert expanded.model_dump_json() == validated.model_dump_json()  # type: ignore[union-attr]
    assert repr(expanded) == repr(validated)


@pytest.mark.parametrize(
    ("topic", "values"),
    [
        ("transfers", {"event_id": "e"}),
        ("transfers", ["e"]),
        ("watchlist", "someone"),
        ("watchlist", [None, None]),
        ("watchlist", ["someone", None, False]),
    ],
)
def test_what_is_not_a_compact_event_is_refused(topic: InputTopic, values: object) -> None:
    with pytest.raises(ValueError, match="not a compact"):
        expand(topic, values)


def test_a_confirmation_comes_back_as_the_case_linker_made_it() -> None:
    made = Confirmation("icbc:mule-1", "a" * 32, "mule_fan_in", "boc", T0.astimezone(SHANGHAI))
    expanded = expand("dispositions", orjson.loads(orjson.dumps(compact("dispositions", made))))
    assert expanded == made
    assert isinstance(expanded, Confirmation) and expanded.decided_at.utcoffset() == timedelta(
        hours=8
    )


def test_a_disposition_offered_comes_back_without_its_note() -> None:
    """The case linker offers dispositions to subjects (`case_links`): what a subject needs
    of one travels, its note does not."""
    disposition = Disposition(
        alert_id="a" * 32,
        institution="boc",
        outcome="false_positive",
        note="called the customer",
        decided_at=T0.astimezone(SHANGHAI),
    )
    values = orjson.loads(orjson.dumps(compact("dispositions", disposition)))
    assert expand("dispositions", values) == disposition.model_copy(update={"note": None})
    with pytest.raises(ValueError, match="disposition"):
        expand("dispositions", [*values[:3], "approved", values[4]])


def test_duanka_s_own_tombstone_keeps_its_mark() -> None:
    own = WatchlistUpdate(listing("cy", T0).identity, None, lifted_own=True)
    assert expand("watchlist", orjson.loads(orjson.dumps(compact("watchlist", own)))) == own


LINKED: list[tuple[InputTopic, Admitted]] = [
    ("dispositions", Confirmation("icbc:m", "a" * 32, "mule_fan_in", "boc", T0, "ann")),
    ("dispositions", Appeal("ann", "b" * 32, "bulk_sim_opener", T0, "mps", T0 + HOUR)),
    (
        "dispositions",
        Disposition(
            alert_id="c" * 32,
            institution="boc",
            outcome="confirmed",
            decided_at=(T0 + 2 * HOUR).astimezone(SHANGHAI),
        ),
    ),
]


@pytest.mark.parametrize(("topic", "event"), EVENTS + LINKED)
def test_the_time_an_event_is_ordered_by_reads_from_its_compact_form(
    topic: InputTopic, event: Admitted
) -> None:
    """A subject agent orders what a bundle brings by its compact form, without building
    the event (`bundle.Forward`)."""
    values = orjson.loads(orjson.dumps(compact(topic, event)))
    assert compact_order_time(topic, values) == order_time(event)


@pytest.mark.parametrize(
    ("topic", "values"),
    [
        ("transfers", ["e"]),
        ("transfers", {"occurred_at": "2026-01-01T00:00:00Z"}),
        ("sim-activations", [None] * 12),
        ("dispositions", ["approval", "a", "boc", "confirmed", "2026-01-01T00:00:00Z"]),
        ("dispositions", ["disposition", "a", "boc", "confirmed", "yesterday"]),
    ],
)
def test_a_compact_form_without_its_time_is_refused(topic: InputTopic, values: object) -> None:
    with pytest.raises(ValueError, match=f"no {topic} time in"):
        compact_order_time(topic, values)
