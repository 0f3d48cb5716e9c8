"""Finding the window in which a threshold was crossed, whatever order events arrived in.

In order, the only window a new record can newly complete ends at the record itself. Out of
order, a record can also complete windows that end at later records. Rules therefore try
the new record first and then each later candidate trigger within one window after it,
earliest first, and name the record at the end of the crossing window as the trigger: the
event that crossed the threshold in event time, so that out-of-order arrival mostly yields
the same alert (and alert id) as in-order replay.
"""

from collections.abc import Callable, Iterator

from services.detector.core.history import History, R, Timed
from services.detector.core.state import SubjectState


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
