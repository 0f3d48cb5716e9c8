//! `bulk_account_opener` (`duanka/detector/core/rules/bulk_account_opener.py`): one
//! identity opening many personal or payment accounts, the account farmer.

use std::collections::HashSet;

use crate::alerting::{build_alert, human_duration, plural, short, Action, Draft, Evident, Raised};
use crate::bursts::find_burst;
use crate::history::History;
use crate::state::{Common, OpenRecord};

pub const RULE: &str = "bulk_account_opener";
/// The kinds of account it counts.
const COUNTED_KINDS: [&str; 2] = ["personal", "payment"];

/// `BulkAccountOpenerPolicy`.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Policy {
    pub min_accounts: usize,
    /// Milliseconds.
    pub window: i64,
}

/// `bulk_account_opener`: a window holding `new` has at least `min_accounts` personal or
/// payment openings.
pub fn check(
    common: &mut Common,
    opens: &History<OpenRecord>,
    new: &OpenRecord,
    identity: &str,
    policy: &Policy,
    now_us: i64,
) -> Option<Raised> {
    let counted = |r: &OpenRecord| COUNTED_KINDS.contains(&r.account_kind.as_str());
    if !counted(new) {
        return None;
    }
    let history = History {
        records: opens
            .records
            .iter()
            .filter(|r| counted(r))
            .cloned()
            .collect(),
    };
    let at_least = policy.min_accounts;
    let crossed = |burst: &[OpenRecord]| burst.len() >= at_least;
    let rule = RULE;
    let found = find_burst(
        common,
        rule,
        new,
        &history,
        policy.window,
        crossed,
        at_least,
    )?;
    let burst = found.records;
    let institutions = burst
        .iter()
        .map(|r| r.source.as_str())
        .collect::<HashSet<_>>()
        .len();
    let mut alert = Draft::new(
        rule,
        "high",
        ("identity", identity),
        (found.start, found.end),
        now_us,
    );
    alert.distinct = institutions;
    alert.summary = format!(
        "Identity {} opened {} at {} within {}; threshold {}.",
        short(identity),
        plural(burst.len(), "personal or payment account"),
        plural(institutions, "institution"),
        human_duration(policy.window),
        policy.min_accounts
    );
    alert.actions = burst
        .iter()
        .map(|r| Action::new("freeze_account", &r.account, Some(&r.source)))
        .collect();
    alert
        .actions
        .push(Action::new("deny_new_services", identity, None));
    let evidence: Vec<&dyn Evident> = burst.iter().map(|r| r as &dyn Evident).collect();
    Some(build_alert(alert, found.trigger, &evidence))
}
