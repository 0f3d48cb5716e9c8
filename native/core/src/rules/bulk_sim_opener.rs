//! `bulk_sim_opener` (`duanka/detector/core/rules/bulk_sim_opener.py`): one identity
//! activating many SIM cards, the card seller's signature.

use std::collections::HashSet;

use crate::alerting::{build_alert, human_duration, plural, short, Action, Draft, Evident, Raised};
use crate::bursts::find_burst;
use crate::history::History;
use crate::state::{Common, SimRecord};

pub const RULE: &str = "bulk_sim_opener";

/// `BulkSimOpenerPolicy`.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Policy {
    pub min_activations: usize,
    /// Milliseconds.
    pub window: i64,
}

/// `bulk_sim_opener`: a window holding `new` has at least `min_activations`.
pub fn check(
    common: &mut Common,
    history: &History<SimRecord>,
    new: &SimRecord,
    identity: &str,
    policy: &Policy,
    now_us: i64,
) -> Option<Raised> {
    let at_least = policy.min_activations;
    let crossed = |burst: &[SimRecord]| burst.len() >= at_least;
    let found = find_burst(common, RULE, new, history, policy.window, crossed, at_least)?;
    let burst = found.records;
    let mut numbers: Vec<(&str, &str)> = Vec::new();
    for record in burst {
        match numbers.iter_mut().find(|(m, _)| *m == record.msisdn) {
            Some(number) => number.1 = &record.source,
            None => numbers.push((&record.msisdn, &record.source)),
        }
    }
    let carriers = numbers
        .iter()
        .map(|(_, c)| *c)
        .collect::<HashSet<_>>()
        .len();
    let mut alert = Draft::new(
        RULE,
        "high",
        ("identity", identity),
        (found.start, found.end),
        now_us,
    );
    alert.distinct = numbers.len();
    alert.summary = format!(
        "Identity {} activated {} SIM cards ({} at {}) within {}; threshold {}.",
        short(identity),
        burst.len(),
        plural(numbers.len(), "number"),
        plural(carriers, "carrier"),
        human_duration(policy.window),
        policy.min_activations
    );
    alert.actions = numbers
        .iter()
        .map(|(msisdn, carrier)| Action::new("block_msisdn", msisdn, Some(carrier)))
        .collect();
    alert
        .actions
        .push(Action::new("deny_new_services", identity, None));
    let evidence: Vec<&dyn Evident> = burst.iter().map(|r| r as &dyn Evident).collect();
    Some(build_alert(alert, found.trigger, &evidence))
}
