"""Garbage collection tuned for replay (`duanka replay`, and the core benchmark).

Detection allocates a few short-lived objects per event (records, alerts, outcomes) while
holding many long-lived ones (subject states, Faust's and aiokafka's machinery). With
CPython's default thresholds (a young collection every 700 allocations) the collector
examined the long-lived objects again and again: replay spent about 40 % of its time in it.
Almost nothing duanka makes is cyclic garbage, reference counting frees it, so the young
generation is collected far less often, and what exists at start-up is never examined.

Not in the worker: its collections then come rarely but each examines millions of
objects, a pause of that length for every event in flight. A pause no longer changes the
order events are applied in (docs/guarantees.md), only how late their alerts come.
"""

import gc

THRESHOLDS = (50_000, 100, 100)
"""Allocations between young collections, and young (middle) collections between middle
(full) ones. A full collection also waits, as CPython always does, until a quarter of the
long-lived objects are new."""


def tune() -> None:
    """Freeze what exists now out of collection, and collect the young less often."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
