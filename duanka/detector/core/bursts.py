"""Finding the window in which a threshold was crossed, whatever order events arrived in.

In order, the only window a new record can newly complete ends at the record itself. Out of
order, a record can also complete windows that end at later records. Rules therefore try
the new record first and then each later candidate trigger within one window after it,
earliest first, and name the record at the end of the crossing window as the trigger: the
event that crossed the threshold in event time, so that out-of-order arrival mostly yields
the same alert (and alert id) as in-order replay.
"""

from collections.abc import Callable, Iterator
from typing import Generic, NamedTuple

from duanka.detector.core.history import History, R, Timed
from duanka.detector.core.state import SubjectState


def candidate_triggers(
    new: Timed, triggers: History[R], window: int, new_is_trigger: bool
) -> Iterator[Timed]:
    """The records at whose time a window holding `new` may end: `new` itself (when it can
    trigger), then trigger records after it (at or after it, when it cannot)."""
    if new_is_trigger:
        yield new
        yield from triggers.within(new.at, new.at + window - 1)
    else:
        yield from triggers.within(new.at - 1, new.at + window - 1)


def first_crossing(
    state: SubjectState,
    rule: str,
    candidates: Iterator[Timed],
    window: int,
    crossed: Callable[[int], bool],
) -> Timed | None:
    """The first candidate whose window (end - window, end] crosses the threshold and is not
    suppressed; firing suppresses the rule from that end for one window."""
    for trigger in candidates:
        if state.suppressed(rule, trigger.at) or not crossed(trigger.at):
            continue
        state.suppress(rule, trigger.at, trigger.at + window)
        return trigger
    return None


class Burst(NamedTuple, Generic[R]):
    """A crossing window (start, end] and the records in it; `trigger` is at its end."""

    trigger: Timed
    start: int
    end: int
    records: list[R]


def find_burst(
    state: SubjectState,
    rule: str,
    new: Timed,
    history: History[R],
    window: int,
    crossed: Callable[[list[R]], bool],
    at_least: int,
) -> Burst[R] | None:
    """The first unsuppressed window of `history` holding `new` whose records cross the
    threshold (`crossed`), for the counting rules, where any record can end a window.
    `at_least` is how many records a crossing window holds at least: a history with fewer
    cannot cross, and most subjects have only a few records, so it is looked at no further."""
    if len(history) < at_least:
        return None
    trigger = first_crossing(
        state,
        rule,
        candidate_triggers(new, history, window, new_is_trigger=True),
        window,
        lambda end: crossed(history.within(end - window, end)),
    )
    if trigger is None:
        return None
    start = trigger.at - window
    return Burst(trigger, start, trigger.at, history.within(start, trigger.at))
