"""The contract's input rules: every class of bad input is rejected with a clear reason."""

from typing import Any

import jsonschema
import orjson
import pytest

from duanka.schemas.alerts import DeadLetter
from duanka.schemas.codec import MAX_MESSAGE_BYTES, DecodeError, decode
from duanka.schemas.events import AccountOpen, SimActivation, Transfer, WatchlistEntry
from duanka.schemas.export import MESSAGES, SCHEMA_DIR, file_name, render
from tests.factories import identity, sim_activation_fields


def encode(fields: dict[str, Any]) -> bytes:
    return orjson.dumps(fields)


def reject(model: type, raw: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(model, raw)
    return caught.value


def account_open_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event_id": "icbc-1",
        "occurred_at": "2026-11-01T12:00:00Z",
        "source": "icbc",
        "identity": identity("alice"),
        "account": "icbc:6222000011112222",
        "account_kind": "personal",
        "channel": "counter",
    }
    fields.update(overrides)
    return fields


def transfer_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event_id": "t-1",
        "occurred_at": "2026-11-01T12:00:00Z",
        "source": "icbc",
        "from_account": "icbc:1",
        "to_account": "ccb:2",
        "from_institution": "icbc",
        "to_institution": "ccb",
        "amount_minor": 500_000,
        "channel": "mobile",
    }
    fields.update(overrides)
    return fields


def test_valid_sim_activation_decodes() -> None:
    event = decode(SimActivation, encode(sim_activation_fields()))
    assert event.identity == identity("alice")
    assert event.occurred_at.utcoffset() is not None


def test_invalid_utf8_is_not_utf8() -> None:
    assert reject(SimActivation, b'{"event_id": "\xff"}').reason == "not_utf8"


def test_truncated_json_is_not_json() -> None:
    assert reject(SimActivation, encode(sim_activation_fields())[:-5]).reason == "not_json"


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(token: bytes) -> None:
    raw = encode(sim_activation_fields()).replace(b'"store"', token)
    assert reject(SimActivation, raw).reason == "not_json"


def test_deeply_nested_json_is_rejected() -> None:
    raw = b'{"event_id":' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert reject(SimActivation, raw).reason in {"not_json", "invalid"}


def test_message_over_64_kib_is_too_large() -> None:
    raw = encode(sim_activation_fields(outlet="x" * MAX_MESSAGE_BYTES))
    assert reject(SimActivation, raw).reason == "too_large"


@pytest.mark.parametrize("document", [b"[]", b'"text"', b"42", b"null", b"true"])
def test_non_object_is_invalid(document: bytes) -> None:
    error = reject(SimActivation, document)
    assert error.reason == "invalid"
    assert "JSON object" in str(error)


def test_unknown_field_is_rejected() -> None:
    error = reject(SimActivation, encode(sim_activation_fields(colour="red")))
    assert "colour" in str(error)


def test_missing_field_is_rejected() -> None:
    fields = sim_activation_fields()
    del fields["msisdn"]
    assert "msisdn" in str(reject(SimActivation, encode(fields)))


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-11-01T12:00:00",  # naive
        "2026-11-01 12:00:00+08:00",  # not the T form
        "2026-11-01",  # a date
        "yesterday",
        "2026-13-01T12:00:00Z",  # no 13th month
    ],
)
def test_naive_or_malformed_timestamp_is_rejected(timestamp: str) -> None:
    error = reject(SimActivation, encode(sim_activation_fields(occurred_at=timestamp)))
    assert "occurred_at" in str(error)


def test_epoch_number_is_not_a_timestamp() -> None:
    assert reject(SimActivation, encode(sim_activation_fields(occurred_at=1764000000))).reason == (
        "invalid"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("identity", "ABC"),  # not a token
        ("identity", "1" * 18),  # a raw ID number must never pass
        ("identity", identity("alice").upper()),  # upper-case hex
        ("msisdn", "13800000000"),  # no +country code
        ("msisdn", "+0123456789"),
        ("source", "China Mobile"),  # codes are [a-z0-9_-]
        ("source", "x" * 33),
        ("event_id", ""),
        ("event_id", "a" * 65),
        ("event_id", "has space"),
        ("sim_kind", "esim"),  # unknown enum value
        ("channel", "kiosk"),
        ("msisdn", 8613800000001),  # wrong type
        ("outlet", 12),
    ],
)
def test_field_constraints(field: str, value: object) -> None:
    error = reject(SimActivation, encode(sim_activation_fields(**{field: value})))
    assert error.reason == "invalid"
    assert field in str(error)


def test_corporate_account_needs_company() -> None:
    error = reject(AccountOpen, encode(account_open_fields(account_kind="corporate")))
    assert "company" in str(error)
    assert decode(
        AccountOpen, encode(account_open_fields(account_kind="corporate", company="91110000MA01"))
    )


def test_transfer_between_the_same_account_is_rejected() -> None:
    error = reject(Transfer, encode(transfer_fields(to_account="icbc:1")))
    assert "must differ" in str(error)


@pytest.mark.parametrize("amount", [0, -1, 10**13 + 1, 1.5, 100.0, "100", True])
def test_amount_must_be_a_positive_integer_within_bounds(amount: object) -> None:
    assert "amount_minor" in str(reject(Transfer, encode(transfer_fields(amount_minor=amount))))


@pytest.mark.parametrize("amount", [1, 10**13])
def test_amount_bounds_are_inclusive(amount: int) -> None:
    assert decode(Transfer, encode(transfer_fields(amount_minor=amount))).amount_minor == amount


def test_currency_defaults_to_cny_and_must_be_iso_4217() -> None:
    assert decode(Transfer, encode(transfer_fields())).currency == "CNY"
    assert "currency" in str(reject(Transfer, encode(transfer_fields(currency="rmb"))))


def test_watchlist_expiry_must_follow_listing() -> None:
    fields = {
        "identity": identity("alice"),
        "reason": "sold SIM cards",
        "listed_at": "2026-11-01T00:00:00Z",
        "expires_at": "2026-10-01T00:00:00Z",
        "source": "mps-afc",
    }
    assert "expires_at" in str(reject(WatchlistEntry, encode(fields)))


def test_committed_json_schemas_match_the_models() -> None:
    for model in MESSAGES:
        path = SCHEMA_DIR / file_name(model)
        assert path.exists(), f"{path} missing: run `duanka schemas`"
        assert path.read_bytes() == render(model), f"{path} is stale: run `duanka schemas`"


def test_schema_file_names_are_kebab_case() -> None:
    assert file_name(SimActivation) == "sim-activation.schema.json"
    assert file_name(DeadLetter) == "dead-letter.schema.json"


def test_json_schema_agrees_with_the_model_on_examples() -> None:
    schema = orjson.loads((SCHEMA_DIR / "sim-activation.schema.json").read_bytes())
    validator = jsonschema.Draft202012Validator(schema)
    good = sim_activation_fields()
    assert not list(validator.iter_errors(good))
    for bad in (
        sim_activation_fields(extra=1),
        sim_activation_fields(msisdn="123"),
        sim_activation_fields(occurred_at="2026-11-01T12:00:00"),
    ):
        assert list(validator.iter_errors(bad)), bad
