"""Identity tokens: check digits, normalisation and the keyed hash."""

import hashlib
import hmac

import pytest

from duanka.pseudonym import IdNumberError, gb11643_check_digit, pseudonymize, validate

KEY = b"0123456789abcdef-test-key"


@pytest.mark.parametrize(
    ("first17", "check"),
    [("11010519491231002", "X"), ("44052418800101001", "4"), ("11010119900307803", "X")],
)
def test_gb11643_check_digit(first17: str, check: str) -> None:
    assert gb11643_check_digit(first17) == check


def test_token_is_hmac_sha256_of_the_normalised_number() -> None:
    expected = hmac.new(KEY, b"11010519491231002X", hashlib.sha256).hexdigest()
    assert pseudonymize("11010519491231002X", KEY) == expected
    assert len(expected) == 64
    assert expected == expected.lower()


FULL_WIDTH = "".join(chr(ord(c) + 0xFEE0) for c in "11010519491231002X")


@pytest.mark.parametrize("spelling", ["11010519491231002x", " 110105 19491231 002X\n", FULL_WIDTH])
def test_spellings_of_one_number_give_one_token(spelling: str) -> None:
    assert pseudonymize(spelling, KEY) == pseudonymize("11010519491231002X", KEY)


def test_wrong_check_digit_is_a_clear_error() -> None:
    with pytest.raises(IdNumberError, match=r"check digit .* is 1, expected X"):
        validate("110105194912310021")


@pytest.mark.parametrize("number", ["", "12", "1101051949123100X2", "abc def!"])
def test_malformed_numbers_are_rejected(number: str) -> None:
    with pytest.raises(IdNumberError):
        validate(number)


def test_other_documents_are_accepted_without_a_check_digit() -> None:
    assert validate("e12345678") == "E12345678"


def test_different_keys_give_different_tokens() -> None:
    assert pseudonymize("11010519491231002X", KEY) != pseudonymize("11010519491231002X", KEY + b"2")


def test_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        pseudonymize("11010519491231002X", b"short")
