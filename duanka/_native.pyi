"""The native core (`native/`), built by maturin into this package."""

def event_values(topic: str, value: bytes) -> list[str | int | None] | None:
    """The compact form of an input event (its field values in its model's field order,
    timestamps as written) if `value` is plainly a valid event of `topic`; None otherwise,
    and for topics without a fast path: the Python reference decides."""

class Subjects:
    """The subjects of one kind ("identity", "device", "msisdn" or "account"): their states,
    kept natively between events, and the engine that applies events to them
    (`native/core/src/engine.rs`), held to the Python engine by
    `tests/unit/test_native_engine.py`."""

    def __init__(self, kind: str, policy: bytes) -> None:
        """The subjects of `kind` under the policy `Policy.in_ms` wrote."""
    def apply(
        self,
        key: str,
        stream: str,
        values: bytes,
        origin: str,
        offset: int | None,
        watermark: int | None,
        now_us: int,
    ) -> tuple[list[bytes], list[bytes], list[str], bool, bool]:
        """Apply an event of `stream` in its compact form (JSON) to subject `key`, read at
        `offset` of `origin`: its alerts and duanka's own watchlist entries as wire JSON,
        the identities whose own listing it lifts, whether it was a duplicate, whether it
        was late. Raises ValueError for values that are not an event's."""
    def expire(self, key: str, watermark: int) -> bool:
        """Forget what no event at or after `watermark` minus the lateness can reach; whether
        the subject is then forgotten altogether (False for a subject not held)."""
    def retention(self) -> int:
        """How far behind the watermark anything a subject of this kind records is kept."""
    def ids(self) -> list[str]:
        """The ids of the subjects held."""
    def __len__(self) -> int: ...
    def __contains__(self, key: str) -> bool: ...
    def state(self, key: str) -> bytes | None:
        """The subject's state as the changelog stores it; None if it has none."""
    def load(self, key: str, value: bytes) -> None:
        """Take the subject's state from its changelog value."""
    def clear(self) -> None:
        """Drop every subject held."""
