"""The native core (`native/`), built by maturin into this package."""

def event_values(topic: str, value: bytes) -> list[str | int | None] | None:
    """The compact form of an input event (its field values in its model's field order,
    timestamps as written) if `value` is plainly a valid event of `topic`; None otherwise,
    and for topics without a fast path: the Python reference decides."""
