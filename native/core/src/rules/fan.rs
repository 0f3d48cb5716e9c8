//! `mule_fan_in` and `mule_fan_out` (`duanka/detector/core/rules/fan.py`): many distinct
//! counterparties in a window, for an account not opened as corporate.

use std::collections::HashSet;

use crate::alerting::{build_alert, human_duration, Action, Draft, Evident, Raised};
use crate::bursts::find_burst;
use crate::history::History;
use crate::rules::mule_pass_through::counted;
use crate::state::{Common, Leg};

pub const FAN_IN: &str = "mule_fan_in";
pub const FAN_OUT: &str = "mule_fan_out";

/// The rules' numbers (`MuleFanPolicy`).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Policy {
    pub min_counterparties: usize,
    /// Milliseconds.
    pub window: i64,
}

/// Fire when a window holding `new` has legs with at least `min_counterparties` distinct
/// counterparties; never for a corporate account.
#[allow(clippy::too_many_arguments)]
pub fn check(
    rule: &str,
    common: &mut Common,
    corporate: bool,
    holder: Option<String>,
    legs: &History<Leg>,
    new: &Leg,
    account: &str,
    policy: &Policy,
    now_us: i64,
) -> Option<Raised> {
    if corporate {
        return None;
    }
    let at_least = policy.min_counterparties;
    let crossed = |burst: &[Leg]| counterparties(burst) >= at_least;
    let found = find_burst(common, rule, new, legs, policy.window, crossed, at_least)?;
    let burst = found.records;
    let count = counterparties(burst);
    let direction = if rule == FAN_IN {
        "senders"
    } else {
        "receivers"
    };
    let summary = format!(
        "Account {account} had {count} distinct {direction} in {} transfers within {}; \
         threshold {}.",
        burst.len(),
        human_duration(policy.window),
        policy.min_counterparties
    );
    let draft = Draft {
        distinct: count,
        actions: vec![Action::new(
            "review",
            account,
            Some(&found.trigger.institution),
        )],
        summary,
        amount_minor: counted(burst),
        holder,
        ..Draft::new(
            rule,
            "medium",
            ("account", account),
            (found.start, found.end),
            now_us,
        )
    };
    let evidence: Vec<&dyn Evident> = burst.iter().map(|r| r as &dyn Evident).collect();
    Some(build_alert(draft, found.trigger, &evidence))
}

fn counterparties(legs: &[Leg]) -> usize {
    legs.iter()
        .map(|leg| leg.counterparty.as_str())
        .collect::<HashSet<_>>()
        .len()
}
