//! `borrowed_phone` (`duanka/detector/core/rules/borrowed_phone.py`): an account opened
//! with a number somebody else activated.

use crate::alerting::{build_alert, human_duration, short, Action, Draft, Evident, Raised};
use crate::state::{MsisdnState, NumberActivation, NumberUse};

pub const RULE: &str = "borrowed_phone";

/// The rule's numbers (`BorrowedPhonePolicy`).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Policy {
    /// Milliseconds.
    pub lookback: i64,
}

/// Fire when the number's latest activation at or before the opening, within the
/// lookback, was by another identity.
pub fn on_account_open(
    state: &MsisdnState,
    used: &NumberUse,
    msisdn: &str,
    policy: &Policy,
    now_us: i64,
) -> Option<Raised> {
    let activation = state.activations.latest_at_or_before(used.at)?;
    if activation.at <= used.at - policy.lookback || activation.identity == used.identity {
        return None;
    }
    Some(alert(used, activation, msisdn, policy, now_us))
}

/// An activation that arrives after account openings it precedes in event time: alert for
/// each opening whose latest activation it now is, if the identities differ.
pub fn on_activation(
    state: &MsisdnState,
    activation: &NumberActivation,
    msisdn: &str,
    policy: &Policy,
    now_us: i64,
) -> Vec<Raised> {
    let reach = activation.at + policy.lookback - 1;
    state
        .uses
        .within(activation.at - 1, reach)
        .iter()
        .filter(|used| state.activations.latest_at_or_before(used.at) == Some(activation))
        .filter(|used| activation.identity != used.identity)
        .map(|used| alert(used, activation, msisdn, policy, now_us))
        .collect()
}

fn alert(
    used: &NumberUse,
    activation: &NumberActivation,
    msisdn: &str,
    policy: &Policy,
    now_us: i64,
) -> Raised {
    let summary = format!(
        "Account {} was opened at {} by identity {} with number {}, last activated by \
         identity {} at {} (lookback {}).",
        used.account,
        used.source,
        short(&used.identity),
        msisdn,
        short(&activation.identity),
        activation.source,
        human_duration(policy.lookback)
    );
    let draft = Draft {
        distinct: 2,
        actions: vec![Action::new("review", &used.account, Some(&used.source))],
        summary,
        ..Draft::new(
            RULE,
            "medium",
            ("msisdn", msisdn),
            (activation.at, used.at),
            now_us,
        )
    };
    let evidence: [&dyn Evident; 2] = [activation, used];
    build_alert(draft, used, &evidence)
}
