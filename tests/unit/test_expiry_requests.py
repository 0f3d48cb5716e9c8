"""An expiry request names the quiet subjects of one partition in its value; requests
written before batching, one per subject in its key, are still read; anything else is a
clear rejection (a dead letter), not a crash. Sweeps, which find the quiet subjects, leave
most of the worker's time to its stages."""

import orjson
import pytest

from duanka.detector.subjects import expiry_keys
from duanka.detector.sweeper import next_sweep_in
from duanka.schemas.codec import DecodeError


def test_a_request_names_its_subjects_in_its_value() -> None:
    value = orjson.dumps(["icbc:n1", "boc:n2"])
    assert expiry_keys(None, value) == [b"icbc:n1", b"boc:n2"]


def test_a_request_of_one_subject_in_its_key_is_still_read() -> None:
    assert expiry_keys(b"icbc:n1", b"") == [b"icbc:n1"]


@pytest.mark.parametrize("value", [b"", b"{", b'{"a": 1}', b'["a", 2]', None])
def test_a_request_naming_no_subjects_is_rejected(value: bytes | None) -> None:
    with pytest.raises(DecodeError, match="not an expiry request"):
        expiry_keys(None, value)


def test_sweeps_come_every_interval_and_take_at_most_a_quarter_of_the_time() -> None:
    assert next_sweep_in(300.0, 2.0) == 298.0  # the next begins an interval after this one
    assert next_sweep_in(300.0, 120.0) == 360.0  # long: three times as long in between
    assert next_sweep_in(1.0, 0.2) == 0.8
