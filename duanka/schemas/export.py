"""JSON Schema files for every message, generated from the models.

The files under `duanka/schemas/json/` are committed so that non-Python producers can validate
against them; a test fails when they drift from the models.
"""

import re
from pathlib import Path

import orjson
from pydantic import BaseModel

from duanka.schemas.alerts import Alert, DeadLetter
from duanka.schemas.cases import Case
from duanka.schemas.dispositions import Disposition
from duanka.schemas.events import AccountOpen, SimActivation, Transfer, WatchlistEntry

MESSAGES: tuple[type[BaseModel], ...] = (
    SimActivation,
    AccountOpen,
    Transfer,
    WatchlistEntry,
    Disposition,
    Alert,
    DeadLetter,
    Case,
)
SCHEMA_DIR = Path(__file__).parent / "json"


def file_name(model: type[BaseModel]) -> str:
    """`SimActivation` -> `sim-activation.schema.json`."""
    kebab = re.sub(r"(?<!^)(?=[A-Z])", "-", model.__name__).lower()
    return f"{kebab}.schema.json"


def render(model: type[BaseModel]) -> bytes:
    """The JSON Schema of one message, pretty-printed with sorted keys for stable diffs."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:duanka:schema:v1:{file_name(model).removesuffix('.schema.json')}",
        **model.model_json_schema(mode="validation"),
    }
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every message's schema; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in MESSAGES:
        path = directory / file_name(model)
        path.write_bytes(render(model))
        written.append(path)
    return written
