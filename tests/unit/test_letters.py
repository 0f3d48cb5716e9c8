"""A forwarded event dead-lettered by a subject agent carries the event as JSON, or, when
its compact form is not an event's, that form as it came: never an error of its own."""

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson

from duanka.detector import letters
from duanka.detector.bundle import decode_bundle
from duanka.detector.metrics import create_metrics
from duanka.schemas.alerts import DeadLetter
from duanka.schemas.codec import DecodeError

WHEN = "2026-01-01T00:00:00+00:00"


class DeadLetters:
    def __init__(self) -> None:
        self.sent: list[DeadLetter] = []

    async def send(self, key: bytes | None, value: bytes) -> None:
        self.sent.append(DeadLetter.model_validate_json(value))


def dead_lettered(entry: list[Any]) -> DeadLetter:
    [forward] = decode_bundle(orjson.dumps([entry]))
    detector = SimpleNamespace(metrics=create_metrics(), dead_letters=DeadLetters())
    message = SimpleNamespace(topic="p.duanka-account-events", partition=1, offset=9)
    error = DecodeError("internal_error", "ValueError('not an event')")
    asyncio.run(letters.send(detector, message, error, forward))  # type: ignore[arg-type]
    [letter] = detector.dead_letters.sent
    return letter


def test_a_compact_form_that_is_no_event_is_dead_lettered_as_it_came() -> None:
    values = ["e1", WHEN, "oops"]  # its time is there, so it was ordered; the rest is not
    entry = ["icbc:a", "in", "transfers", 0, 5, values, 3]
    letter = dead_lettered(entry)
    assert (letter.topic, letter.partition, letter.offset) == ("p.duanka-account-events", 1, 9)
    assert letter.reason == "internal_error"
    assert orjson.loads(letter.raw or "") == values
