//! Alerts as the contract writes them (`duanka/schemas/alerts.py`), built as
//! `duanka/detector/core/alerting.py` builds them: deterministic ids, evidence caps,
//! entities and wording.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::history::Timed;

pub const SCHEMA_VERSION: u8 = 2;
pub const MAX_EVIDENCE_EVENTS: usize = 50;
pub const MAX_ENTITIES: usize = 50;

/// The kinds of entity an alert names, in the order of `Entities`' fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityKind {
    Identity,
    Msisdn,
    Account,
    Device,
    Outlet,
    Company,
}

pub const ENTITY_KINDS: [EntityKind; 6] = [
    EntityKind::Identity,
    EntityKind::Msisdn,
    EntityKind::Account,
    EntityKind::Device,
    EntityKind::Outlet,
    EntityKind::Company,
];

impl EntityKind {
    pub fn name(self) -> &'static str {
        match self {
            EntityKind::Identity => "identity",
            EntityKind::Msisdn => "msisdn",
            EntityKind::Account => "account",
            EntityKind::Device => "device",
            EntityKind::Outlet => "outlet",
            EntityKind::Company => "company",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A record an alert counts as evidence: it names the entities of its event.
pub trait Evident: Timed {
    fn entities(&self) -> Vec<(EntityKind, &str)>;
    /// The other end of a transfer (a leg's counterparty), if the record is one.
    fn counterparty(&self) -> Option<&str> {
        None
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    pub kind: String,
    pub id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub start: String,
    pub end: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entities {
    pub identities: Vec<String>,
    pub msisdns: Vec<String>,
    pub accounts: Vec<String>,
    pub devices: Vec<String>,
    pub outlets: Vec<String>,
    pub companies: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntityCounts {
    pub identities: usize,
    pub msisdns: usize,
    pub accounts: usize,
    pub devices: usize,
    pub outlets: usize,
    pub companies: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub event_ids: Vec<String>,
    pub count: usize,
    pub distinct: usize,
    pub amount_minor: u64,
    pub entities: Option<Entities>,
    pub entity_counts: Option<EntityCounts>,
    pub holder: Option<String>,
    pub counterparties: Vec<String>,
    pub flag_alert_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub action: String,
    pub target: String,
    pub institution: Option<String>,
}

impl Action {
    pub fn new(action: &str, target: &str, institution: Option<&str>) -> Action {
        Action {
            action: action.to_owned(),
            target: target.to_owned(),
            institution: institution.map(str::to_owned),
        }
    }
}

/// An alert, its fields in the order of the contract's model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub schema_version: u8,
    pub alert_id: String,
    pub rule: String,
    pub severity: String,
    pub subject: Subject,
    pub trigger_event_id: String,
    pub window: Window,
    pub evidence: Evidence,
    pub actions: Vec<Action>,
    pub summary: String,
    pub detected_at: String,
}

/// A watchlist entry duanka publishes itself (`WatchlistEntry`), its fields in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WatchlistEntry {
    pub identity: String,
    pub reason: String,
    pub listed_at: String,
    pub expires_at: Option<String>,
    pub source: String,
}

/// An alert and the end of its window (epoch ms), which the subject remembers it by.
#[derive(Clone, Debug)]
pub struct Raised {
    pub alert: Alert,
    pub window_end: i64,
}

/// Same rule, subject and triggering event (its source and event id) -> same id.
pub fn alert_id(rule: &str, kind: &str, id: &str, source: &str, event_id: &str) -> String {
    let material = [rule, kind, id, source, event_id].join("\u{1f}");
    let digest = Sha256::digest(material.as_bytes());
    digest
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// What an alert says besides its evidence.
pub struct Draft<'a> {
    pub rule: &'a str,
    pub severity: &'a str,
    pub subject: (&'a str, &'a str),
    pub window: (i64, i64),
    pub distinct: usize,
    pub actions: Vec<Action>,
    pub summary: String,
    pub detected_at_us: i64,
    /// Money in the policy's currency the evidence counts (0: none).
    pub amount_minor: u64,
    /// The identity that opened the alert's account, when known.
    pub holder: Option<String>,
    /// For `payment_to_flagged`: the alert that flagged the account.
    pub flag_alert_id: Option<String>,
}

impl<'a> Draft<'a> {
    /// A draft with no evidence figures, actions or wording yet.
    pub fn new(
        rule: &'a str,
        severity: &'a str,
        subject: (&'a str, &'a str),
        window: (i64, i64),
        detected_at_us: i64,
    ) -> Draft<'a> {
        Draft {
            rule,
            severity,
            subject,
            window,
            distinct: 0,
            actions: Vec::new(),
            summary: String::new(),
            detected_at_us,
            amount_minor: 0,
            holder: None,
            flag_alert_id: None,
        }
    }
}

/// An alert whose evidence keeps the newest MAX_EVIDENCE_EVENTS event ids, and names what
/// its events name and the other ends of its transfers.
pub fn build_alert(draft: Draft<'_>, trigger: &dyn Timed, evidence: &[&dyn Evident]) -> Raised {
    let (kind, id) = draft.subject;
    let (entities, entity_counts) = named_entities(kind, id, evidence);
    let newest = evidence.len().saturating_sub(MAX_EVIDENCE_EVENTS);
    let counterparties: BTreeSet<&str> = evidence.iter().filter_map(|r| r.counterparty()).collect();
    let alert = Alert {
        schema_version: SCHEMA_VERSION,
        alert_id: alert_id(draft.rule, kind, id, trigger.source(), trigger.event_id()),
        rule: draft.rule.to_owned(),
        severity: draft.severity.to_owned(),
        subject: Subject {
            kind: kind.to_owned(),
            id: id.to_owned(),
        },
        trigger_event_id: trigger.event_id().to_owned(),
        window: Window {
            start: crate::timestamp::format_ms(draft.window.0),
            end: crate::timestamp::format_ms(draft.window.1),
        },
        evidence: Evidence {
            event_ids: evidence
                .get(newest..)
                .unwrap_or_default()
                .iter()
                .map(|r| r.event_id().to_owned())
                .collect(),
            count: evidence.len(),
            distinct: draft.distinct,
            amount_minor: draft.amount_minor,
            entities: Some(entities),
            entity_counts: Some(entity_counts),
            holder: draft.holder,
            counterparties: counterparties
                .into_iter()
                .take(MAX_ENTITIES)
                .map(str::to_owned)
                .collect(),
            flag_alert_id: draft.flag_alert_id,
        },
        actions: draft.actions,
        summary: draft.summary,
        detected_at: crate::timestamp::format_us(draft.detected_at_us),
    };
    Raised {
        alert,
        window_end: draft.window.1,
    }
}

/// The subject and what the evidence names, per kind: sorted and at most MAX_ENTITIES ids
/// (the subject always among them), and the whole counts.
fn named_entities(kind: &str, id: &str, evidence: &[&dyn Evident]) -> (Entities, EntityCounts) {
    let mut named: [BTreeSet<&str>; 6] = Default::default();
    let subject_kind = ENTITY_KINDS.into_iter().find(|k| k.name() == kind);
    if let Some(set) = subject_kind.and_then(|k| named.get_mut(k.index())) {
        set.insert(id);
    }
    for record in evidence {
        for (entity, entity_id) in record.entities() {
            if let Some(set) = named.get_mut(entity.index()) {
                set.insert(entity_id);
            }
        }
    }
    let listed = |entity: EntityKind| -> Vec<String> {
        let ids = named.get(entity.index()).map(|set| set.iter().copied());
        let mut first: Vec<&str> = ids.into_iter().flatten().take(MAX_ENTITIES).collect();
        if Some(entity) == subject_kind && !first.contains(&id) {
            first.truncate(MAX_ENTITIES - 1);
            first.push(id);
            first.sort_unstable();
        }
        first.into_iter().map(str::to_owned).collect()
    };
    let count = |entity: EntityKind| named.get(entity.index()).map_or(0, BTreeSet::len);
    (
        Entities {
            identities: listed(EntityKind::Identity),
            msisdns: listed(EntityKind::Msisdn),
            accounts: listed(EntityKind::Account),
            devices: listed(EntityKind::Device),
            outlets: listed(EntityKind::Outlet),
            companies: listed(EntityKind::Company),
        },
        EntityCounts {
            identities: count(EntityKind::Identity),
            msisdns: count(EntityKind::Msisdn),
            accounts: count(EntityKind::Account),
            devices: count(EntityKind::Device),
            outlets: count(EntityKind::Outlet),
            companies: count(EntityKind::Company),
        },
    )
}

/// A recognisable prefix of a long token, for summaries.
pub fn short(token: &str) -> String {
    if token.chars().count() <= 12 {
        token.to_owned()
    } else {
        format!("{}…", token.chars().take(12).collect::<String>())
    }
}

/// `1 carrier`, `3 carriers`.
pub fn plural<N: std::fmt::Display + PartialEq + From<u8>>(count: N, noun: &str) -> String {
    if count == N::from(1) {
        format!("{count} {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// `1 company`, `2 companies`: a noun not made plural with an s.
pub fn plural_of(count: usize, noun: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { noun } else { many })
}

/// An elapsed event time in whole hours, or days from two days on.
pub fn human_age(ms: i64) -> String {
    let hours = ms.div_euclid(3_600_000);
    if hours >= 48 {
        plural(hours.div_euclid(24), "day")
    } else {
        plural(hours, "hour")
    }
}

/// Minor units as a readable amount: `5,000.00` (Python's `f"{minor / 100:,.2f}"`).
pub fn yuan(amount_minor: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // at most 10^13: exact in an f64
    let text = format!("{:.2}", amount_minor as f64 / 100.0);
    let (whole, cents) = text.split_once('.').unwrap_or((&text, "00"));
    let digits: Vec<char> = whole.chars().collect();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3 + 3);
    for (index, digit) in digits.iter().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(*digit);
    }
    format!("{grouped}.{cents}")
}

/// A ratio as a whole percentage (Python's `f"{ratio:.0%}"`).
pub fn percent(ratio: f64) -> String {
    format!("{:.0}%", ratio * 100.0)
}

/// `7 days`, `24 hours`, `90 minutes`: the unit a person would say.
pub fn human_duration(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    for (unit, size) in [("day", 86_400), ("hour", 3600), ("minute", 60)] {
        if seconds >= size && seconds % size == 0 {
            return plural(seconds / size, unit);
        }
    }
    plural(seconds, "second")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_wording_as_python_makes_them() {
        let id = alert_id("shared_device", "device", "imei:1", "cmcc", "e1");
        assert_eq!(id, "fb91aa245761c45897204060cf619ff8");
        assert_eq!(human_duration(86_400_000), "1 day");
        assert_eq!(human_duration(5_400_000), "90 minutes");
        assert_eq!(human_duration(61_000), "61 seconds");
        assert_eq!(short("imei:356938035643809"), "imei:3569380…");
        assert_eq!(short("imei:1"), "imei:1");
    }

    #[test]
    fn amounts_and_ratios_as_python_writes_them() {
        let amounts = [
            (1, "0.01"),
            (99, "0.99"),
            (100, "1.00"),
            (123_456_789, "1,234,567.89"),
            (10_000_000_000_000, "100,000,000,000.00"),
            (500_000, "5,000.00"),
        ];
        for (minor, text) in amounts {
            assert_eq!(yuan(minor), text);
        }
        let ratios = [
            (0.025, "2%"),
            (0.005, "0%"),
            (0.015, "2%"),
            (0.8, "80%"),
            (0.125, "12%"),
            (0.995, "100%"),
            (0.666_666_6, "67%"),
        ];
        for (ratio, text) in ratios {
            assert_eq!(percent(ratio), text, "{ratio}");
        }
        assert_eq!(human_age(47 * 3_600_000), "47 hours");
        assert_eq!(human_age(48 * 3_600_000), "2 days");
        assert_eq!(human_age(3_600_000), "1 hour");
    }
}
