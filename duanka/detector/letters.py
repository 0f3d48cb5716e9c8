"""What goes wrong with a message ends in `dead-letters`, with the reason, and the agent
goes on with the next one: Faust would otherwise restart the agent and skip the message
without a trace."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from duanka.detector.bundle import Forward
from duanka.detector.core.compact import document
from duanka.detector.core.intake import dead_letter
from duanka.schemas.codec import DecodeError, encode

if TYPE_CHECKING:
    from duanka.detector.context import Detector

log = logging.getLogger(__name__)


async def guarded(
    detector: Detector,
    message: Any,
    work: Coroutine[Any, Any, None],
    forward: Forward | None = None,
) -> bool:
    """Run one message's work (or one forwarded event's, of a bundle); whatever goes wrong,
    it ends in `dead-letters` with the reason. Whether the work was done."""
    try:
        await work
    except Exception as exc:
        await send(detector, message, error_of(message, exc), forward)
        return False
    return True


def error_of(message: Any, exc: Exception) -> DecodeError:
    """A rejection as it is, anything else as an internal error."""
    return exc if isinstance(exc, DecodeError) else internal_error(message, exc)


def internal_error(message: Any, exc: Exception) -> DecodeError:
    log.error(
        "failed to process %s[%d]@%d",
        message.topic,
        message.partition,
        message.offset,
        exc_info=exc,
    )
    return DecodeError("internal_error", repr(exc))


async def send(
    detector: Detector, message: Any, error: DecodeError, forward: Forward | None = None
) -> None:
    """Dead-letter a message, or one forwarded event of a bundle (with the bundle's
    position, the event's subject, and the event as JSON)."""
    if forward is None:
        key, raw = message.key, message.value
    else:
        key, raw = forward.key, _document(forward)
    await send_from(detector, (message.topic, message.partition, message.offset), key, raw, error)


def _document(forward: Forward) -> bytes | None:
    """A forwarded event as JSON; its compact form as it came, if that is not an event's
    (a bundle is decoded only as far as its events' times, `bundle.Forward`)."""
    try:
        return document(forward.event)
    except ValueError:
        return orjson.dumps(forward.values)


async def send_from(
    detector: Detector,
    position: tuple[str, int, int],
    key: bytes | None,
    raw: bytes | None,
    error: DecodeError,
) -> None:
    """Dead-letter a message found at `position` (topic, partition, offset) of an input
    topic, whichever topic it was last read from."""
    topic, partition, offset = position
    letter = dead_letter(topic, partition, offset, key, raw, error, datetime.now(UTC))
    log.info("dead letter from %s[%d]@%d: %s", topic, partition, offset, error)
    detector.metrics.dead_letters.labels(error.reason).inc()
    await detector.dead_letters.send(key=key, value=encode(letter))
