//! `payment_to_flagged` (`duanka/detector/core/rules/payment_to_flagged.py`): a payment
//! into an account a mule rule has flagged, warned to the sender's institution.

use std::collections::BTreeSet;

use crate::alerting::{build_alert, human_age, yuan, Action, Draft, Raised};
use crate::state::{AccountState, Flag, Leg};

pub const RULE: &str = "payment_to_flagged";

/// The rules whose alerts flag their account.
pub const FLAGGING: [&str; 6] = [
    "mule_pass_through",
    "mule_fan_in",
    "mule_fan_out",
    "new_account_velocity",
    "layering_cycle",
    "scatter_gather",
];

/// The rule's numbers (`PaymentToFlaggedPolicy`).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Policy {
    /// Milliseconds.
    pub flag_ttl: i64,
}

/// The flags of the mule alerts among `raised`: from each one's window end.
pub fn flags_raised(raised: &[Raised]) -> Vec<Flag> {
    raised
        .iter()
        .filter(|r| FLAGGING.contains(&r.alert.rule.as_str()))
        .map(|r| Flag {
            at: r.window_end,
            alert_id: r.alert.alert_id.clone(),
            rule: r.alert.rule.clone(),
            holder: r.alert.evidence.holder.clone(),
        })
        .collect()
}

/// Flag the account with `fresh` flags, then warn each incoming payment that a flag now
/// reaches and none reached before: `new` (an incoming leg just applied, or None) and those
/// recorded already that a new flag reaches.
pub fn check(
    state: &mut AccountState,
    new: Option<&Leg>,
    fresh: Vec<Flag>,
    account: &str,
    policy: &Policy,
    now_us: i64,
) -> Vec<Raised> {
    let ttl = policy.flag_ttl;
    if fresh.is_empty() && (new.is_none() || state.flags.is_empty()) {
        return Vec::new();
    }
    let mut reached: BTreeSet<Leg> = new.into_iter().cloned().collect();
    if !fresh.is_empty() {
        let before = state.flags.clone();
        for flag in &fresh {
            state.flag(flag.clone());
        }
        for flag in &fresh {
            let legs = state.incoming.within(flag.at - 1, flag.at + ttl - 1);
            reached.extend(
                legs.iter()
                    .filter(|leg| flag_at(&before, leg.at, ttl).is_none())
                    .cloned(),
            );
        }
    }
    reached
        .iter()
        .filter_map(|leg| {
            let latest = flag_at(&state.flags, leg.at, ttl)?;
            Some(warning(leg, latest, account, ttl, now_us))
        })
        .collect()
}

/// The latest of `flags` (in time order) in force at `at`: raised in (at - ttl, at].
pub fn flag_at(flags: &[Flag], at: i64, ttl: i64) -> Option<&Flag> {
    let flag = flags.iter().rev().find(|flag| flag.at <= at)?;
    (flag.at > at - ttl).then_some(flag)
}

fn warning(leg: &Leg, flag: &Flag, account: &str, ttl: i64, now_us: i64) -> Raised {
    let paid = if leg.counted {
        format!("paid {}", yuan(leg.amount_minor))
    } else {
        "made a payment".to_owned()
    };
    let elapsed = leg.at - flag.at;
    let since = if elapsed == 0 {
        "at this payment".to_owned()
    } else if elapsed < 3_600_000 {
        "less than an hour before".to_owned()
    } else {
        format!("{} before", human_age(elapsed))
    };
    let summary = format!(
        "Account {} {paid} into account {account}, flagged by {} {since}: warn the customer \
         before they pay again.",
        leg.counterparty, flag.rule
    );
    let draft = Draft {
        distinct: 1,
        actions: vec![Action::new(
            "warn_customer",
            &leg.counterparty,
            leg.counterparty_institution.as_deref(),
        )],
        summary,
        amount_minor: if leg.counted { leg.amount_minor } else { 0 },
        holder: flag.holder.clone(),
        flag_alert_id: Some(flag.alert_id.clone()),
        ..Draft::new(
            RULE,
            "high",
            ("account", account),
            (leg.at - ttl, leg.at),
            now_us,
        )
    };
    build_alert(draft, leg, &[leg])
}
