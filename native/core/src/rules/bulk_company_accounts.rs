//! `bulk_company_accounts` (`duanka/detector/core/rules/bulk_company_accounts.py`): one
//! legal representative opening corporate accounts for several companies.

use std::collections::HashSet;

use crate::alerting::{
    build_alert, human_duration, plural_of, short, Action, Draft, Evident, Raised,
};
use crate::bursts::find_burst;
use crate::history::History;
use crate::state::{Common, OpenRecord};

pub const RULE: &str = "bulk_company_accounts";

/// `BulkCompanyAccountsPolicy`.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Policy {
    pub min_companies: usize,
    /// Milliseconds.
    pub window: i64,
}

/// `bulk_company_accounts`: a window holding `new` has corporate accounts of at least
/// `min_companies`.
pub fn check(
    common: &mut Common,
    opens: &History<OpenRecord>,
    new: &OpenRecord,
    identity: &str,
    policy: &Policy,
    now_us: i64,
) -> Option<Raised> {
    let corporate = |r: &OpenRecord| r.account_kind == "corporate";
    if !corporate(new) {
        return None;
    }
    let history = History {
        records: opens
            .records
            .iter()
            .filter(|r| corporate(r))
            .cloned()
            .collect(),
    };
    let distinct = |burst: &[OpenRecord]| {
        burst
            .iter()
            .map(|r| r.company.as_deref())
            .collect::<HashSet<_>>()
            .len()
    };
    let at_least = policy.min_companies;
    let crossed = |burst: &[OpenRecord]| distinct(burst) >= at_least;
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
    let companies = distinct(burst);
    let mut alert = Draft::new(
        rule,
        "high",
        ("identity", identity),
        (found.start, found.end),
        now_us,
    );
    alert.distinct = companies;
    alert.summary = format!(
        "Identity {} opened corporate accounts for {} within {}; threshold {}.",
        short(identity),
        plural_of(companies, "company", "companies"),
        human_duration(policy.window),
        policy.min_companies
    );
    alert.actions = burst
        .iter()
        .map(|r| Action::new("review", &r.account, Some(&r.source)))
        .collect();
    let evidence: Vec<&dyn Evident> = burst.iter().map(|r| r as &dyn Evident).collect();
    Some(build_alert(alert, found.trigger, &evidence))
}
