//! Finding the window in which a threshold was crossed, whatever order events arrived in
//! (`duanka/detector/core/bursts.py`): the new record first, then each later record within
//! one window after it, earliest first; the record at the end of the crossing window is
//! the trigger.

use crate::history::{History, Timed};
use crate::state::Common;

/// A crossing window (start, end] and the records in it; the trigger is at its end.
pub struct Burst<'a, R> {
    pub trigger: &'a R,
    pub start: i64,
    pub end: i64,
    pub records: &'a [R],
}

/// The first unsuppressed window of `history` holding `new` whose records cross the
/// threshold (`crossed`); firing suppresses the rule from its end for one window.
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
    let later = history.within(new.at(), new.at() + window - 1);
    let candidates = std::iter::once(new).chain(later.iter());
    for trigger in candidates {
        let end = trigger.at();
        if common.suppressed(rule, end) || !crossed(history.within(end - window, end)) {
            continue;
        }
        common.suppress(rule, end, end + window);
        let start = end - window;
        return Some(Burst {
            trigger,
            start,
            end,
            records: history.within(start, end),
        });
    }
    None
}
