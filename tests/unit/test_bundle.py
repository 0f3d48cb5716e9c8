"""Bundles: forwarded events survive the trip in order, whatever their number and size; a
subject lands on the partition a keyed message would; what is not a bundle is rejected."""

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from schemas.codec import DecodeError
from services.detector import bundle
from services.detector.bundle import (
    Forward,
    decode_bundle,
    encode_bundles,
    legacy_forward,
    partition_of,
)
from services.detector.headers import (
    PARTITION_HEADER,
    RECEIVED_HEADER,
    STREAM_HEADER,
    TOPIC_HEADER,
)


def forward(n: int, value: bytes | None = b'{"event_id": "e"}') -> Forward:
    return Forward(f"acct-{n}".encode(), "in", "transfers", n % 8, 1_700_000_000_000 + n, value)


def test_forwards_come_back_as_they_went_in_order() -> None:
    forwards = [forward(n) for n in range(50)] + [
        Forward(b"id-1", "listing", "watchlist", 0, 5, None)  # a tombstone
    ]
    [value] = encode_bundles(forwards)
    assert decode_bundle(value) == forwards


def test_a_large_batch_is_split_into_bundles_in_order() -> None:
    big = b'"' + b"x" * (100 * 1024) + b'"'
    forwards = [forward(n, big) for n in range(12)]
    values = encode_bundles(forwards)
    assert len(values) > 1
    assert all(len(v) < 2 * bundle.MAX_BUNDLE_BYTES for v in values)
    assert [f for v in values for f in decode_bundle(v)] == forwards


def test_nothing_to_forward_makes_no_bundle() -> None:
    assert encode_bundles([]) == []


def test_a_subject_lands_where_kafka_puts_a_message_keyed_by_it() -> None:
    for n in range(200):
        key = f"subject-{n}".encode()
        assert partition_of(key, 8) == DefaultPartitioner()(key, list(range(8)), [])


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"not json",
        b'{"a": 1}',
        b"[[1, 2]]",
        orjson.dumps([["k", "sideways", "transfers", 0, 1, "{}"]]),
        orjson.dumps([["k", "in", "elsewhere", 0, 1, "{}"]]),
        orjson.dumps([["k", "in", "transfers", "0", 1, "{}"]]),
        orjson.dumps([["k", "in", "transfers", 0, 1, {"inline": True}]]),
    ],
)
def test_what_is_not_a_bundle_is_rejected(value: bytes | None) -> None:
    with pytest.raises(DecodeError) as raised:
        decode_bundle(value)
    assert raised.value.reason == "invalid"


def test_a_message_of_an_earlier_version_is_read_as_one_forward() -> None:
    headers = {
        STREAM_HEADER: "out",
        TOPIC_HEADER: "transfers",
        PARTITION_HEADER: "3",
        RECEIVED_HEADER: "1700000000123",
    }
    assert legacy_forward(b"acct-9", b"{}", headers, 5) == Forward(
        b"acct-9", "out", "transfers", 3, 1_700_000_000_123, b"{}"
    )
    del headers[RECEIVED_HEADER]  # the oldest versions: the record's own timestamp
    assert legacy_forward(b"acct-9", b"{}", headers, 5).written == 5


def test_a_message_without_the_headers_of_a_forward_is_rejected() -> None:
    with pytest.raises(DecodeError):
        legacy_forward(b"acct-9", b"{}", {STREAM_HEADER: "out"}, 5)
