//! `watchlisted_identity` (`duanka/detector/core/rules/watchlisted_identity.py`): a barred
//! person trying to open a new service.

use crate::alerting::{build_alert, short, Action, Draft, Evident, Raised};
use crate::history::Timed;
use crate::state::{Listing, OpenRecord, SimRecord};
use crate::timestamp::format_date;

pub const RULE: &str = "watchlisted_identity";

/// An activation or an opening by the identity.
#[derive(Clone, Copy)]
pub enum Record<'a> {
    Sim(&'a SimRecord),
    Open(&'a OpenRecord),
}

impl Record<'_> {
    pub fn timed(&self) -> &dyn Timed {
        match self {
            Record::Sim(r) => *r,
            Record::Open(r) => *r,
        }
    }
}

/// Fire when the identity's listing is in force at the record's event time.
pub fn check(
    listing: Option<&Listing>,
    record: Record<'_>,
    identity: &str,
    now_us: i64,
) -> Option<Raised> {
    let listing = listing?;
    let timed = record.timed();
    if !listing.covers(timed.at()) {
        return None;
    }
    let (blocked, what, evidence): (Action, String, &dyn Evident) = match record {
        Record::Sim(r) => (
            Action::new("block_msisdn", &r.msisdn, Some(&r.source)),
            format!("activated SIM {}", r.msisdn),
            r,
        ),
        Record::Open(r) => (
            Action::new("freeze_account", &r.account, Some(&r.source)),
            format!("opened account {}", r.account),
            r,
        ),
    };
    let summary = format!(
        "Identity {}, watchlisted by {} since {} ({}), {what} at {}.",
        short(identity),
        listing.source,
        format_date(listing.listed_at),
        listing.reason,
        timed.source()
    );
    let draft = Draft {
        distinct: 1,
        actions: vec![blocked, Action::new("deny_new_services", identity, None)],
        summary,
        ..Draft::new(
            RULE,
            "critical",
            ("identity", identity),
            (listing.listed_at, timed.at()),
            now_us,
        )
    };
    Some(build_alert(draft, timed, &[evidence]))
}
