//! `new_account_velocity` (`duanka/detector/core/rules/new_account_velocity.py`): a
//! freshly opened account that suddenly receives a lot.

use std::collections::HashSet;

use crate::alerting::{
    build_alert, human_age, human_duration, yuan, Action, Draft, Evident, Raised,
};
use crate::bursts::{candidate_triggers, first_crossing};
use crate::history::History;
use crate::rules::mule_pass_through::counted;
use crate::state::{Common, Leg, Opening};

pub const RULE: &str = "new_account_velocity";

/// The rule's numbers (`NewAccountVelocityPolicy`).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Policy {
    /// Milliseconds.
    pub max_account_age: i64,
    /// Milliseconds.
    pub window: i64,
    pub min_transfers: usize,
    pub min_amount_minor: u64,
}

/// What checks the account: an incoming leg just recorded, or its opening (which checks
/// each leg it may make young enough).
pub enum New<'a> {
    Leg(&'a Leg),
    Opening,
}

/// At an incoming transfer at t, for an account opened at most `max_account_age` before
/// t: at least `min_transfers` incoming, or `min_amount_minor` in sum, within the window.
pub fn check(
    common: &mut Common,
    opening: Option<&Opening>,
    incoming: &History<Leg>,
    new: New<'_>,
    account: &str,
    policy: &Policy,
    now_us: i64,
) -> Option<Raised> {
    let opening = opening?;
    let (window, max_age) = (policy.window, policy.max_account_age);
    let crossed = |end: i64| {
        if !(opening.at <= end && end <= opening.at + max_age) {
            return false;
        }
        let legs = incoming.within(end - window, end);
        legs.len() >= policy.min_transfers || counted(legs) >= policy.min_amount_minor
    };
    let candidates = match new {
        New::Opening => incoming
            .within(opening.at - 1, opening.at + max_age)
            .iter()
            .collect(),
        New::Leg(leg) => candidate_triggers(leg, incoming, window, true),
    };
    let trigger = first_crossing(common, RULE, candidates, window, crossed)?;
    let legs = incoming.within(trigger.at - window, trigger.at);
    let total = counted(legs);
    let distinct = legs
        .iter()
        .map(|leg| leg.counterparty.as_str())
        .collect::<HashSet<_>>()
        .len();
    let summary = format!(
        "Account {account}, opened {} earlier as {}, received {} transfers totalling {} within \
         {}; thresholds {} transfers or {}.",
        human_age(trigger.at - opening.at),
        opening.account_kind,
        legs.len(),
        yuan(total),
        human_duration(policy.window),
        policy.min_transfers,
        yuan(policy.min_amount_minor),
    );
    let draft = Draft {
        distinct,
        actions: vec![Action::new(
            "freeze_account",
            account,
            Some(&trigger.institution),
        )],
        summary,
        amount_minor: total,
        holder: opening.holder.clone(),
        ..Draft::new(
            RULE,
            "high",
            ("account", account),
            (trigger.at - window, trigger.at),
            now_us,
        )
    };
    let evidence: Vec<&dyn Evident> = legs.iter().map(|r| r as &dyn Evident).collect();
    Some(build_alert(draft, trigger, &evidence))
}
