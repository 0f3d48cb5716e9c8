"""Table writes from outside Faust's own iteration of a stream.

- Patches: nothing; sets `faust.streams._current_event` (private), the context variable
  Faust reads to find the partition a table write belongs to.
- Upstream: none filed. Faust lets a table be written only while a stream yields the event
  (`Table.partition_for_key`: "Cannot modify table key from outside of stream iteration").
  duanka applies events released from its event-time order, in the release loop too, and
  each must write to the partition of the message it came in.
- Proof: every worker test through the broker (`tests/integration/test_worker.py`): without
  it, the first event the release loop applies raises that TypeError.
- Remove when: duanka writes subject state itself, or Faust takes the
  partition of a write from its caller.
"""

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event


@contextmanager
def current(event: Any) -> Iterator[None]:
    """Make `event` Faust's current event while the block runs."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
