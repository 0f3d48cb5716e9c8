//! `mule_pass_through` (`duanka/detector/core/rules/mule_pass_through.py`): money that
//! arrives and leaves again within the hour.

use std::collections::HashSet;

use crate::alerting::{build_alert, human_duration, percent, yuan, Action, Draft, Evident, Raised};
use crate::bursts::{candidate_triggers, first_crossing};
use crate::history::History;
use crate::state::{Common, Leg};

pub const RULE: &str = "mule_pass_through";

/// The rule's numbers (`MulePassThroughPolicy`).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Policy {
    /// Milliseconds.
    pub window: i64,
    pub min_incoming_minor: u64,
    pub min_outgoing_ratio: f64,
}

/// Money in the policy's currency among `legs`.
pub fn counted(legs: &[Leg]) -> u64 {
    legs.iter()
        .filter(|leg| leg.counted)
        .map(|leg| leg.amount_minor)
        .sum()
}

/// The account's legs a rule reads.
pub struct Legs<'a> {
    pub incoming: &'a History<Leg>,
    pub outgoing: &'a History<Leg>,
    pub holder: Option<String>,
}

/// At an outgoing transfer at t (the new one, or a later one that a late leg completes):
/// incoming within (t - window, t] at least the minimum, outgoing at least the ratio of it.
pub fn check(
    common: &mut Common,
    legs: &Legs<'_>,
    new: &Leg,
    outgoing: bool,
    account: &str,
    policy: &Policy,
    now_us: i64,
) -> Option<Raised> {
    if legs.incoming.is_empty() || legs.outgoing.is_empty() {
        return None;
    }
    let window = policy.window;
    let sums = |end: i64| {
        let start = end - window;
        (
            counted(legs.incoming.within(start, end)),
            counted(legs.outgoing.within(start, end)),
        )
    };
    let crossed = |end: i64| {
        let (incoming, outgoing_sum) = sums(end);
        #[allow(clippy::cast_precision_loss)] // amounts are at most 10^13 a leg
        let enough = outgoing_sum as f64 >= policy.min_outgoing_ratio * incoming as f64;
        incoming >= policy.min_incoming_minor && enough
    };
    let candidates = candidate_triggers(new, legs.outgoing, window, outgoing);
    let trigger = first_crossing(common, RULE, candidates, window, crossed)?;
    let (start, end) = (trigger.at - window, trigger.at);
    let mut evidence: Vec<&Leg> = legs.incoming.within(start, end).iter().collect();
    evidence.extend(legs.outgoing.within(start, end));
    evidence.sort();
    let (incoming, outgoing_sum) = sums(end);
    let distinct = evidence
        .iter()
        .map(|leg| leg.counterparty.as_str())
        .collect::<HashSet<_>>()
        .len();
    #[allow(clippy::cast_precision_loss)]
    let ratio = outgoing_sum as f64 / incoming as f64;
    let summary = format!(
        "Account {account} received {} and sent on {} ({}) within {}; thresholds {} in and {} out.",
        yuan(incoming),
        yuan(outgoing_sum),
        percent(ratio),
        human_duration(policy.window),
        yuan(policy.min_incoming_minor),
        percent(policy.min_outgoing_ratio),
    );
    let draft = Draft {
        distinct,
        actions: vec![Action::new(
            "freeze_account",
            account,
            Some(&trigger.institution),
        )],
        summary,
        amount_minor: incoming,
        holder: legs.holder.clone(),
        ..Draft::new(RULE, "high", ("account", account), (start, end), now_us)
    };
    let evidence: Vec<&dyn Evident> = evidence.into_iter().map(|r| r as &dyn Evident).collect();
    Some(build_alert(draft, trigger, &evidence))
}
