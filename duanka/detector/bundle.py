"""Bundles: the events forwarded to one subject-topic partition, many to a message.

Forwarding an event once per subject as a message of its own made the subject topics carry
two to four messages per input event, and Faust's cost per message consumed (its stream,
acks and sensors) outweighed everything the detection does with it. So the ingest agent
forwards a batch of input messages at a time: per subject-topic partition, one message
holding every event of the batch bound for it, in input order. The partition is chosen from
the subject id by Kafka's default partitioner, as a message keyed by the subject would
have been, so a subject's events and state stay on the partition the query API looks in.
Each event goes in the compact form ingest validated it into (`core.compact`), and comes
out of the bundle in that form: a subject agent orders and applies it so, without parsing
or validating it again, and builds it only where it needs it as a Python object
(`Forward.event`).
"""

import struct
from typing import Any, cast, get_args

import orjson

from duanka.detector.core.compact import compact, expand
from duanka.detector.core.compact import order_time as compact_order_time
from duanka.detector.core.intake import (
    EVENT_MODELS,
    INPUT_TOPICS,
    Admitted,
    InputTopic,
    decode_admitted,
)
from duanka.detector.core.routing import Stream
from duanka.detector.core.watermark import order_time
from duanka.detector.headers import (
    PARTITION_HEADER,
    RECEIVED_HEADER,
    STREAM_HEADER,
    TOPIC_HEADER,
)
from duanka.schemas.codec import DecodeError

BUNDLE = "bundle"
"""The `STREAM_HEADER` value of a bundle message."""
MAX_BUNDLE_BYTES = 512 * 1024
"""About the most a bundle may hold; more go into the next bundle. Kafka's default message
size limit is 1 MiB."""
STREAMS: frozenset[str] = frozenset(get_args(Stream))


class Forward:
    """One input event forwarded to one subject: the event and where it came from.

    The event is kept in the form it came in, as ingest admitted it or as a bundle carries
    it (`core.compact`), and made in the other form only when asked for: a subject agent
    applies an event in its compact form (the native engine) and orders it by the time
    that form holds, so most events it receives never become Python objects there."""

    __slots__ = (
        "_event",
        "_values",
        "at",
        "key",
        "offset",
        "partition",
        "stream",
        "topic",
        "written",
    )

    def __init__(
        self,
        key: bytes,
        stream: Stream,
        topic: InputTopic,
        partition: int,
        offset: int,
        written: int,
        event: Admitted | None = None,
        *,
        values: Any = None,
    ) -> None:
        """A forward of `event`, or of the event whose compact form `values` is (then
        raises ValueError if that holds no time to order it by)."""
        self.key = key
        """The subject id."""
        self.stream = stream
        self.topic = topic
        self.partition = partition
        """The input partition it was read from."""
        self.offset = offset
        """Its offset there."""
        self.written = written
        """When it was written to its input topic (epoch ms)."""
        self._event = event
        self._values = values
        self.at = order_time(event) if event is not None else compact_order_time(topic, values)
        """The time it takes its place by in its subject's order (`watermark.order_time`)."""

    @property
    def event(self) -> Admitted:
        """The event as ingest admitted it; raises ValueError if its compact form is not
        an event's."""
        if self._event is None:
            self._event = expand(self.topic, self._values)
        return self._event

    @property
    def values(self) -> Any:
        """The event's compact form (`core.compact`)."""
        if self._values is None:
            self._values = compact(self.topic, self.event)
        return self._values

    @property
    def event_time(self) -> int | None:
        """The event's time (`watermark.event_time`): None but for the event topics."""
        return self.at if self.topic in EVENT_MODELS else None

    def to(self, key: bytes, event: Admitted) -> "Forward":
        """What this forward brings to the subject `key` instead: `event`, from where it
        was read."""
        return Forward(
            key, self.stream, self.topic, self.partition, self.offset, self.written, event
        )

    def as_json(self) -> list[Any]:
        return [
            self.key.decode(),
            self.stream,
            self.topic,
            self.partition,
            self.written,
            self.values,
            self.offset,
        ]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Forward) and self.as_json() == other.as_json()

    def __hash__(self) -> int:
        return hash((self.key, self.topic, self.partition, self.offset))

    def __repr__(self) -> str:
        return f"Forward({self.as_json()!r:.300})"


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a message keyed `key`: its
    murmur2 hash, as aiokafka's `DefaultPartitioner` and the Java client compute it."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of `data`, four bytes at a time: aiokafka's takes a byte at a
    time, 11 µs for an identity's 64-character id, two to three times per event."""
    length = len(data)
    h = 0x9747B28C ^ length
    words = length // 4
    for k in struct.unpack_from(f"<{words}I", data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    tail = data[words * 4 :]
    if tail:
        h = ((h ^ int.from_bytes(tail, "little")) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def encode_bundles(forwards: list[Forward]) -> list[bytes]:
    """The forwards as bundle values, in order, each at most about `MAX_BUNDLE_BYTES`."""
    bundles: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for forward in forwards:
        if chunk and size >= MAX_BUNDLE_BYTES:
            bundles.append(b"[" + b",".join(chunk) + b"]")
            chunk, size = [], 0
        entry = orjson.dumps(forward.as_json())
        chunk.append(entry)
        size += len(entry) + 1
    if chunk:
        bundles.append(b"[" + b",".join(chunk) + b"]")
    return bundles


def decode_bundle(value: bytes | None) -> list[Forward]:
    """The forwards of a bundle value; raises `DecodeError` if it is not one."""
    try:
        entries = orjson.loads(value or b"")
        if not isinstance(entries, list):
            raise TypeError("not a list")
        return [_forward(entry) for entry in entries]
    except DecodeError:
        raise
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise DecodeError("invalid", f"not a bundle of forwarded events: {exc}") from None


def legacy_forward(
    key: bytes | None, value: bytes | None, headers: dict[str, str], timestamp_ms: int
) -> Forward:
    """The one event of a subject-topic message written by a version before bundles: keyed
    by the subject, its value the input value, the rest in headers. Raises `DecodeError`
    if it is not one, or its value is not a valid event."""
    try:
        written = headers.get(RECEIVED_HEADER)  # absent on the oldest versions' records
        entry = [
            (key or b"").decode(),
            headers[STREAM_HEADER],
            headers[TOPIC_HEADER],
            int(headers[PARTITION_HEADER]),
            timestamp_ms if written is None else int(written),
            None if value is None else value.decode(),
            -1,
        ]
        return _forward(entry)
    except (KeyError, ValueError) as exc:
        raise DecodeError("invalid", f"not a forwarded event: {exc!r}") from None


def _forward(entry: Any) -> Forward:
    """A bundle entry's forward. Its event is in compact form, or (written by a version
    before it) the input message's value as text, validated here (None: a tombstone). An
    entry of a version before offsets has none (-1)."""
    key, stream, topic, partition, written, event, *rest = entry
    offset = rest[0] if rest else -1
    if (
        not isinstance(key, str)
        or stream not in STREAMS
        or topic not in INPUT_TOPICS
        or not isinstance(partition, int)
        or not isinstance(written, int)
        or not isinstance(offset, int)
        or len(rest) > 1
        or not (event is None or isinstance(event, str | list))
    ):
        raise ValueError(f"malformed entry {entry!r:.200}")
    input_topic = cast(InputTopic, topic)
    subject = key.encode()
    if isinstance(event, list):
        return Forward(
            subject, cast(Stream, stream), input_topic, partition, offset, written, values=event
        )
    admitted = decode_admitted(input_topic, subject, None if event is None else event.encode())
    return Forward(subject, cast(Stream, stream), input_topic, partition, offset, written, admitted)


def written_ms(message: Any) -> int:
    """When a Kafka message was written: its timestamp, epoch ms (Faust gives seconds)."""
    return round(float(message.timestamp) * 1000)
