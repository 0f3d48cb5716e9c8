"""Bundles: the events forwarded to one subject-topic partition, many to a message.

Forwarding an event once per subject as a message of its own made the subject topics carry
two to four messages per input event, and Faust's cost per message consumed (its stream,
acks and sensors) outweighed everything the detection does with it. So the ingest agent
forwards a batch of input messages at a time: per subject-topic partition, one message
holding every event of the batch bound for it, in input order. The partition is chosen from
the subject id by Kafka's default partitioner, as a message keyed by the subject would
have been, so a subject's events and state stay on the partition the query API looks in.
Each event goes in the compact form ingest validated it into (`core.compact`), and comes
out of the bundle as the event itself: a subject agent does not parse or validate it again.
"""

import struct
from dataclasses import dataclass
from typing import Any, cast, get_args

import orjson

from duanka.detector.core.compact import compact, expand
from duanka.detector.core.intake import INPUT_TOPICS, Admitted, InputTopic, decode_admitted
from duanka.detector.core.routing import Stream
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


@dataclass(frozen=True, slots=True)
class Forward:
    """One input event forwarded to one subject: the event and where it came from."""

    key: bytes
    """The subject id."""
    stream: Stream
    topic: InputTopic
    partition: int
    """The input partition it was read from."""
    offset: int
    """Its offset there."""
    written: int
    """When it was written to its input topic (epoch ms)."""
    event: Admitted
    """The event as ingest admitted it."""

    def as_json(self) -> list[Any]:
        return [
            self.key.decode(),
            self.stream,
            self.topic,
            self.partition,
            self.written,
            compact(self.topic, self.event),
            self.offset,
        ]


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
        admitted = expand(input_topic, event)
    else:
        admitted = decode_admitted(input_topic, subject, None if event is None else event.encode())
    return Forward(subject, cast(Stream, stream), input_topic, partition, offset, written, admitted)


def written_ms(message: Any) -> int:
    """When a Kafka message was written: its timestamp, epoch ms (Faust gives seconds)."""
    return round(float(message.timestamp) * 1000)
