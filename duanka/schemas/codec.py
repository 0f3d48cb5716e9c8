"""Bytes <-> models. Decoding uses orjson, then validates the parsed object strictly.

Every failure becomes a `DecodeError` with a coarse `reason` (for metrics and dead letters)
and a precise, human-readable message, so that a producer can fix the message it sent.
"""

from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from duanka.schemas.alerts import DeadLetterReason

MAX_MESSAGE_BYTES = 64 * 1024

M = TypeVar("M", bound=BaseModel)


class DecodeError(ValueError):
    """Raised when bytes are not a valid message of the expected type."""

    def __init__(self, reason: DeadLetterReason, message: str) -> None:
        super().__init__(message)
        self.reason: DeadLetterReason = reason


def parse_json(raw: bytes) -> object:
    """Parse one JSON document of at most 64 KiB (NaN and Infinity are not JSON)."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise DecodeError("too_large", f"message is {len(raw)} bytes; the limit is 65536")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(
            "not_utf8", f"message is not UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError("not_json", f"message is not JSON: {exc}") from None


def validate(model: type[M], document: object) -> M:
    """Validate a parsed JSON document against a model."""
    if not isinstance(document, dict):
        raise DecodeError("invalid", f"message must be a JSON object, not {_json_type(document)}")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise DecodeError("invalid", _describe(exc)) from None


def decode(model: type[M], raw: bytes) -> M:
    """Parse and validate one message."""
    return validate(model, parse_json(raw))


def encode(message: BaseModel) -> bytes:
    """Serialize a model as compact JSON (RFC 3339 timestamps, no nulls dropped)."""
    return message.model_dump_json().encode()


def _describe(exc: ValidationError) -> str:
    """One line per problem: `field.path: message`, capped to keep dead letters small."""
    problems = [
        f"{'.'.join(str(p) for p in err['loc']) or '(message)'}: {err['msg']}"
        for err in exc.errors(include_url=False, include_input=False)
    ]
    shown = "; ".join(problems[:10])
    return shown if len(problems) <= 10 else f"{shown}; and {len(problems) - 10} more"


def _json_type(document: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(document), "a number")
