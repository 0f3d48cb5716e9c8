"""Models built from values validated before, without validating them again.

Two paths give an event's field values already checked against its model: a bundle's
compact form, validated by ingest (`compact`), and the native fast path of admission
(`intake`, `duanka._native.event_values`). Both list the values in the model's field order
(`FIELDS`) with timestamps as text; `build` makes the model from them as
`Model.model_construct` would, in less than half the time.
"""

from datetime import datetime
from typing import Any, get_args

from duanka.schemas.events import AccountOpen, Message, SimActivation, Transfer, WatchlistEntry

MODELS: dict[str, type[Message]] = {
    "sim-activations": SimActivation,
    "account-opens": AccountOpen,
    "transfers": Transfer,
    "watchlist": WatchlistEntry,
}
"""The model of each input topic whose values are listed this way."""
FIELDS = {topic: tuple(model.model_fields) for topic, model in MODELS.items()}
"""Per topic, its model's field names in order."""


def _is_timestamp(annotation: object) -> bool:
    """Whether a field's type is a datetime, optional or annotated."""
    return annotation is datetime or any(_is_timestamp(arg) for arg in get_args(annotation))


TIMESTAMPS = {
    topic: tuple(
        index
        for index, info in enumerate(model.model_fields.values())
        if _is_timestamp(info.annotation)
    )
    for topic, model in MODELS.items()
}
"""Per topic, the positions of its timestamps among its values."""


def build(topic: str, values: Any) -> Message:
    """The model of `topic` whose field values, in order, `values` is (a list, left as it
    is: its timestamps are parsed in a copy); raises ValueError if it has not as many
    values as the model has fields."""
    names = FIELDS[topic]
    if not isinstance(values, list) or len(values) != len(names):
        raise ValueError(f"not a compact {topic} event: {values!r:.200}")
    values = list(values)
    for index in TIMESTAMPS[topic]:
        if values[index] is not None:
            values[index] = datetime.fromisoformat(values[index])
    model = object.__new__(MODELS[topic])
    setattr_ = object.__setattr__
    setattr_(model, "__dict__", dict(zip(names, values, strict=True)))
    setattr_(model, "__pydantic_fields_set__", set(names))
    setattr_(model, "__pydantic_extra__", None)
    setattr_(model, "__pydantic_private__", None)
    return model
