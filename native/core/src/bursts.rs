//! Finding the window in which a threshold was crossed, whatever order events arrived in
//! (`duanka/detector/core/bursts.py`): the new record first, then each later record within
//! one window after it, earliest first; the record at the end of the crossing window is
//! the trigger.

use crate::history::{History, Timed};
use crate::state::Common;

/// The records at whose time a window holding `new` may end: `new` itself (when it can
/// trigger), then trigger records after it (at or after it, when it cannot).
pub fn candidate_triggers<'a, R: Timed>(
    new: &'a R,
    triggers: &'a History<R>,
    window: i64,
    new_is_trigger: bool,
) -> Vec<&'a R> {
    let at = new.at();
    if new_is_trigger {
        std::iter::once(new)
            .chain(triggers.within(at, at + window - 1))
            .collect()
    } else {
        triggers.within(at - 1, at + window - 1).iter().collect()
    }
}

/// The first candidate whose window (end - window, end] crosses the threshold and is not
/// suppressed; firing suppresses the rule from that end for one window.
pub fn first_crossing<'a, R: Timed>(
    common: &mut Common,
    rule: &str,
    candidates: impl IntoIterator<Item = &'a R>,
    window: i64,
    crossed: impl Fn(i64) -> bool,
) -> Option<&'a R> {
    for trigger in candidates {
        let end = trigger.at();
        if common.suppressed(rule, end) || !crossed(end) {
            continue;
        }
        common.suppress(rule, end, end + window);
        return Some(trigger);
    }
    None
}

/// A crossing window (start, end] and the records in it; the trigger is at its end.
pub struct Burst<'a, R> {
    pub trigger: &'a R,
    pub start: i64,
    pub end: i64,
    pub records: &'a [R],
}

/// The first unsuppressed window of `history` holding `new` whose records cross the
/// threshold (`crossed`), for the counting rules, where any record can end a window.
/// `at_least` is how many records a crossing window holds at least.
pub fn find_burst<'a, R: Timed>(
    common: &mut Common,
    rule: &str,
    new: &'a R,
    history: &'a History<R>,
    window: i64,
    crossed: impl Fn(&[R]) -> bool,
    at_least: usize,
) -> Option<Burst<'a, R>> {
    if history.len() < at_least {
        return None;
    }
    let candidates = candidate_triggers(new, history, window, true);
    let trigger = first_crossing(common, rule, candidates, window, |end| {
        crossed(history.within(end - window, end))
    })?;
    let (start, end) = (trigger.at() - window, trigger.at());
    Some(Burst {
        trigger,
        start,
        end,
        records: history.within(start, end),
    })
}
