"""Admission: what the worker and replay accept from each input topic."""

import base64
from datetime import timedelta

import orjson
import pytest

from duanka.detector.core.intake import DEAD_LETTER_BYTES, WatchlistUpdate, admit, dead_letter
from duanka.schemas.codec import DecodeError, encode
from duanka.schemas.events import SimActivation
from tests.factories import NOW, identity, sim_activation_fields

SKEW = timedelta(minutes=5)


def test_event_key_is_not_trusted() -> None:
    raw = orjson.dumps(sim_activation_fields())
    for key in (None, b"anything", identity("bob").encode()):
        assert isinstance(admit("sim-activations", key, raw, NOW, SKEW), SimActivation)


def test_event_from_the_future_is_rejected() -> None:
    ahead = (NOW + SKEW + timedelta(seconds=1)).isoformat()
    with pytest.raises(DecodeError) as caught:
        admit(
            "sim-activations",
            None,
            orjson.dumps(sim_activation_fields(occurred_at=ahead)),
            NOW,
            SKEW,
        )
    assert caught.value.reason == "from_future"


def test_event_within_clock_skew_is_accepted() -> None:
    ahead = (NOW + SKEW).isoformat()
    raw = orjson.dumps(sim_activation_fields(occurred_at=ahead))
    assert admit("sim-activations", None, raw, NOW, SKEW)


def test_missing_value_is_rejected() -> None:
    with pytest.raises(DecodeError, match="no value"):
        admit("transfers", b"k", None, NOW, SKEW)


def test_watchlist_tombstone_needs_an_identity_key() -> None:
    update = admit("watchlist", identity("m").encode(), None, NOW, SKEW)
    assert update == WatchlistUpdate(identity("m"), None)
    for key in (None, b"not-a-token"):
        with pytest.raises(DecodeError, match="tombstone"):
            admit("watchlist", key, None, NOW, SKEW)


def test_watchlist_key_must_match_the_identity() -> None:
    value = orjson.dumps(
        {
            "identity": identity("m"),
            "reason": "sold cards",
            "listed_at": "2026-01-01T00:00:00Z",
            "source": "mps-afc",
        }
    )
    assert isinstance(admit("watchlist", identity("m").encode(), value, NOW, SKEW), WatchlistUpdate)
    with pytest.raises(DecodeError) as caught:
        admit("watchlist", identity("x").encode(), value, NOW, SKEW)
    assert caught.value.reason == "key_mismatch"


def test_a_dead_letter_keeps_at_most_64_kib_of_the_value_and_key_and_says_how_long_they_were() -> (
    None
):
    huge, key = b'{"event_id": "' + b"x" * 10_000_000 + b'"}', b"\xff" * 100_000
    letter = dead_letter("transfers", 3, 7, key, huge, DecodeError("too_large", "too large"), NOW)
    assert letter.raw == huge[:DEAD_LETTER_BYTES].decode()
    assert (letter.raw_size, letter.key_size) == (len(huge), len(key))
    assert letter.key_encoding == "base64"
    assert base64.b64decode(letter.key or "") == key[:DEAD_LETTER_BYTES]
    assert len(encode(letter)) < 2 * 1024 * 1024
