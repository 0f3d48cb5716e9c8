"""Bundles: forwarded events survive the trip in order, whatever their number and size; a
subject lands on the partition a keyed message would; what is not a bundle is rejected;
messages and bundles of earlier versions, holding the input values, are read."""

import random

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from duanka.detector import bundle
from duanka.detector.bundle import (
    Forward,
    decode_bundle,
    encode_bundles,
    legacy_forward,
    murmur2,
    partition_of,
)
from duanka.detector.core.intake import Admitted, WatchlistUpdate
from duanka.detector.headers import (
    PARTITION_HEADER,
    RECEIVED_HEADER,
    STREAM_HEADER,
    TOPIC_HEADER,
)
from duanka.schemas.codec import DecodeError
from tests.factories import T0, listing, transfer

LISTED = listing("ann", T0)
TOMBSTONE = WatchlistUpdate(LISTED.identity, None)


def forward(n: int, event: Admitted | None = None) -> Forward:
    sent = event or transfer(f"acct-{n}", "acct-x", 100 + n, n=n)
    return Forward(
        f"acct-{n}".encode(), "in", "transfers", n % 8, 40 + n, 1_700_000_000_000 + n, sent
    )


def test_forwards_come_back_as_they_went_in_order() -> None:
    identity = LISTED.identity.encode()
    forwards = [forward(n) for n in range(50)] + [
        Forward(
            identity, "listing", "watchlist", 0, 3, 5, WatchlistUpdate(LISTED.identity, LISTED)
        ),
        Forward(identity, "listing", "watchlist", 0, 4, 6, TOMBSTONE),
    ]
    [value] = encode_bundles(forwards)
    assert decode_bundle(value) == forwards


def test_a_large_batch_is_split_into_bundles_in_order() -> None:
    forwards = [forward(n, transfer("a" * 20, f"b{n:06d}" * 4, 1, n=n)) for n in range(5000)]
    values = encode_bundles(forwards)
    assert len(values) > 1
    assert all(len(v) < bundle.MAX_BUNDLE_BYTES + 1024 for v in values)
    assert [f for v in values for f in decode_bundle(v)] == forwards


def test_a_bundle_of_an_earlier_version_holds_input_values_and_no_offsets() -> None:
    sent = transfer("acct-1", "acct-2", 500)
    entry = ["acct-1", "out", "transfers", 2, 7, sent.model_dump_json()]
    tombstone = [LISTED.identity, "listing", "watchlist", 0, 8, None]
    assert decode_bundle(orjson.dumps([entry, tombstone])) == [
        Forward(b"acct-1", "out", "transfers", 2, -1, 7, sent),
        Forward(LISTED.identity.encode(), "listing", "watchlist", 0, -1, 8, TOMBSTONE),
    ]


def test_nothing_to_forward_makes_no_bundle() -> None:
    assert encode_bundles([]) == []


@pytest.mark.parametrize("length", range(0, 70))
def test_a_subject_lands_where_kafka_puts_a_message_keyed_by_it(length: int) -> None:
    rng = random.Random(length)
    for _ in range(20):
        key = bytes(rng.randrange(256) for _ in range(length))
        assert murmur2(key) == aiokafka_murmur2(key)
        for partitions in (1, 8, 12):
            expected = DefaultPartitioner()(key, list(range(partitions)), [])
            assert partition_of(key, partitions) == expected


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
        orjson.dumps([["k", "in", "transfers", 0, 1, ["too", "short"]]]),
        orjson.dumps([["k", "in", "transfers", 0, 1, '{"event_id": "e"}']]),
        orjson.dumps([["k", "in", "transfers", 0, 1, None, "7"]]),
        orjson.dumps([["k", "in", "transfers", 0, 1, None, 7, 8]]),
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
    sent = transfer("acct-9", "acct-2", 500)
    value = sent.model_dump_json().encode()
    assert legacy_forward(b"acct-9", value, headers, 5) == Forward(
        b"acct-9", "out", "transfers", 3, -1, 1_700_000_000_123, sent
    )
    del headers[RECEIVED_HEADER]  # the oldest versions: the record's own timestamp
    assert legacy_forward(b"acct-9", value, headers, 5).written == 5


@pytest.mark.parametrize(
    ("value", "headers"),
    [
        (transfer("acct-9", "acct-2", 500).model_dump_json().encode(), {STREAM_HEADER: "out"}),
        (b"{}", {STREAM_HEADER: "out", TOPIC_HEADER: "transfers", PARTITION_HEADER: "3"}),
    ],
)
def test_a_message_of_an_earlier_version_that_is_not_a_forward_is_rejected(
    value: bytes, headers: dict[str, str]
) -> None:
    with pytest.raises(DecodeError):
        legacy_forward(b"acct-9", value, headers, 5)
