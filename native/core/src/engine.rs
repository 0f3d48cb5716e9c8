//! The detection engine (`duanka/detector/core/engine.py`): (subject state, event) -> (new
//! state, alerts). It owns the order of work for an event at one subject: idempotency,
//! lateness, recording, the subject's rules, then forgetting what no window reaches.
//! Every subject kind: identity, device, number and account.

use std::cmp::Ordering;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::alerting::{Raised, WatchlistEntry};
use crate::history::{History, Timed};
use crate::rules::new_account_velocity::New;
use crate::rules::watchlisted_identity::{self, Record};
use crate::rules::{
    borrowed_phone, bulk_account_opener, bulk_company_accounts, bulk_sim_opener, fan,
    mule_pass_through, new_account_velocity, payment_to_flagged, shared_device,
};
use crate::state::Kind;
use crate::state::{
    AccountState, Common, DeviceUse, Flag, IdentityState, Leg, Listing, NumberActivation,
    NumberUse, OpenRecord, Sent, SimRecord, SubjectState,
};
use crate::timestamp::{epoch_ms, format_ms};

/// The policy's numbers the engine reads, from `Policy.in_ms` (every duration in
/// milliseconds; the rest of the policy is not read here).
#[derive(Clone, Debug, Deserialize)]
pub struct Policy {
    pub allowed_lateness: i64,
    pub currency: String,
    pub watchlist_ttl: i64,
    pub watchlist_source: String,
    pub bulk_sim_opener: bulk_sim_opener::Policy,
    pub bulk_account_opener: bulk_account_opener::Policy,
    pub bulk_company_accounts: bulk_company_accounts::Policy,
    pub shared_device: shared_device::Policy,
    pub borrowed_phone: borrowed_phone::Policy,
    pub mule_pass_through: mule_pass_through::Policy,
    pub mule_fan_in: fan::Policy,
    pub mule_fan_out: fan::Policy,
    pub new_account_velocity: new_account_velocity::Policy,
    pub payment_to_flagged: payment_to_flagged::Policy,
}

impl Policy {
    /// The policy `Policy.in_ms` wrote.
    pub fn from_json(data: &[u8]) -> Result<Policy, String> {
        serde_json::from_slice(data).map_err(|e| format!("not a policy: {e}"))
    }
}

/// What applying one event to one subject produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The alerts, as wire JSON; for a duplicate, what the event published the first time.
    pub alerts: Vec<Box<RawValue>>,
    /// duanka's own watchlist entries to publish, as wire JSON (for a duplicate, as above).
    pub listings: Vec<Box<RawValue>>,
    /// Identities whose listing duanka lifts itself (a tombstone on `watchlist`).
    pub lifts: Vec<String>,
    /// The event had been applied already: nothing was counted again.
    pub duplicate: bool,
    /// The event was older than the allowed lateness: not counted.
    pub late: bool,
}

/// A SIM activation's compact form (`SimActivation`'s fields in order).
type ActivationValues = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// An account opening's compact form (`AccountOpen`'s fields in order).
type OpeningValues = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A transfer's compact form (`Transfer`'s fields in order).
type TransferValues = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    u64,
    String,
    String,
);

/// A confirmation's compact form: `["confirmation", account, alert id, rule, institution,
/// decided_at, holder]`.
type ConfirmationValues = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
);

/// A watchlist entry's compact form: `WatchlistEntry`'s fields in order.
type EntryValues = (String, String, String, Option<String>, String);

/// An appeal's compact form: `["appeal", identity, alert id, rule, listed_at, institution,
/// decided_at]`.
type AppealValues = (String, String, String, String, String, String, String);

/// An event at a subject, from the compact form a bundle carries
/// (`duanka/detector/core/compact.py`).
pub enum Event {
    Activation(Activation),
    Opening(Opening),
    Transfer(Transfer),
    Confirmation(Confirmation),
    Listing(ListingUpdate),
    Appeal(Appeal),
}

/// A watchlist record: a listing, or (None) a tombstone lifting it.
pub struct ListingUpdate {
    pub listing: Option<Listing>,
    /// A tombstone duanka wrote, lifting its own listing of the identity.
    pub lifted_own: bool,
}

/// An institution found an alert about the identity a false positive (from the linker).
pub struct Appeal {
    pub alert_id: String,
    pub rule: String,
    /// The alert's window end: where a listing it made begins.
    pub listed_at: i64,
    pub institution: String,
    pub decided_at: i64,
}

pub struct Transfer {
    /// Seen from the sending account (stream "out"), not the receiving one ("in").
    pub outgoing: bool,
    pub at: i64,
    pub event_id: String,
    pub source: String,
    pub from_account: String,
    pub to_account: String,
    pub from_institution: String,
    pub to_institution: String,
    pub amount_minor: u64,
    pub currency: String,
}

/// An institution confirmed an alert about the account as fraud (from the case linker).
pub struct Confirmation {
    pub alert_id: String,
    pub rule: String,
    pub institution: String,
    pub decided_at: i64,
    pub holder: Option<String>,
}

pub struct Activation {
    pub at: i64,
    pub event_id: String,
    pub source: String,
    pub identity: String,
    pub msisdn: String,
    pub outlet: Option<String>,
    pub device: Option<String>,
}

pub struct Opening {
    pub at: i64,
    pub event_id: String,
    pub source: String,
    pub identity: String,
    pub account: String,
    pub account_kind: String,
    pub msisdn: Option<String>,
    pub device: Option<String>,
    pub company: Option<String>,
}

impl Event {
    /// The event of `stream` ("sim" or "open") whose compact form, as JSON, is `values`.
    pub fn from_compact(stream: &str, values: &[u8]) -> Result<Event, String> {
        let mut reader = serde_json::Deserializer::from_slice(values);
        let invalid = |e: serde_json::Error| format!("not a compact {stream} event: {e}");
        let at = |text: &str| epoch_ms(text).ok_or_else(|| format!("not a timestamp: {text}"));
        match stream {
            "sim" => {
                let (event_id, occurred_at, source, identity, msisdn, _, _, outlet, device) =
                    ActivationValues::deserialize(&mut reader).map_err(invalid)?;
                Ok(Event::Activation(Activation {
                    at: at(&occurred_at)?,
                    event_id,
                    source,
                    identity,
                    msisdn,
                    outlet,
                    device,
                }))
            }
            "open" => {
                let (
                    event_id,
                    occurred_at,
                    source,
                    identity,
                    account,
                    account_kind,
                    _,
                    msisdn,
                    device,
                    company,
                ) = OpeningValues::deserialize(&mut reader).map_err(invalid)?;
                Ok(Event::Opening(Opening {
                    at: at(&occurred_at)?,
                    event_id,
                    source,
                    identity,
                    account,
                    account_kind,
                    msisdn,
                    device,
                    company,
                }))
            }
            "in" | "out" => {
                let values = TransferValues::deserialize(&mut reader).map_err(invalid)?;
                Ok(Event::Transfer(Transfer {
                    outgoing: stream == "out",
                    at: at(&values.1)?,
                    event_id: values.0,
                    source: values.2,
                    from_account: values.3,
                    to_account: values.4,
                    from_institution: values.5,
                    to_institution: values.6,
                    amount_minor: values.7,
                    currency: values.8,
                }))
            }
            "flag" => {
                let (tag, _, alert_id, rule, institution, decided_at, holder) =
                    ConfirmationValues::deserialize(&mut reader).map_err(invalid)?;
                if tag != "confirmation" {
                    return Err(format!("not a compact confirmation: {tag}"));
                }
                Ok(Event::Confirmation(Confirmation {
                    decided_at: at(&decided_at)?,
                    alert_id,
                    rule,
                    institution,
                    holder,
                }))
            }
            "listing" => {
                // `[identity, entry or null]`, then `true` when duanka lifted its own listing.
                let values = Vec::<serde_json::Value>::deserialize(&mut reader).map_err(invalid)?;
                let (entry, lifted_own) = match values.as_slice() {
                    [_, entry] => (entry, false),
                    [_, entry, serde_json::Value::Bool(true)] => (entry, true),
                    _ => return Err(format!("not a compact listing event: {values:?}")),
                };
                let entry = Option::<EntryValues>::deserialize(entry).map_err(invalid)?;
                let listing = match entry {
                    None => None,
                    Some((_, reason, listed_at, expires_at, source)) => Some(Listing {
                        listed_at: at(&listed_at)?,
                        expires_at: expires_at.as_deref().map(at).transpose()?,
                        source,
                        reason,
                    }),
                };
                Ok(Event::Listing(ListingUpdate {
                    listing,
                    lifted_own,
                }))
            }
            "appeal" => {
                let (tag, _, alert_id, rule, listed_at, institution, decided_at) =
                    AppealValues::deserialize(&mut reader).map_err(invalid)?;
                if tag != "appeal" {
                    return Err(format!("not a compact appeal: {tag}"));
                }
                Ok(Event::Appeal(Appeal {
                    listed_at: at(&listed_at)?,
                    decided_at: at(&decided_at)?,
                    alert_id,
                    rule,
                    institution,
                }))
            }
            _ => Err(format!("no stream {stream}")),
        }
    }

    /// When the event happened, and how it is named each time it is delivered
    /// (`engine.delivery_key`).
    fn names(&self) -> (i64, String) {
        match self {
            Event::Activation(e) => (e.at, format!("{}/{}", e.source, e.event_id)),
            Event::Opening(e) => (e.at, format!("{}/{}", e.source, e.event_id)),
            Event::Transfer(e) => (e.at, format!("{}/{}", e.source, e.event_id)),
            Event::Confirmation(e) => (
                e.decided_at,
                format!("dispositions/{}/{}", e.institution, e.alert_id),
            ),
            Event::Appeal(e) => (
                e.decided_at,
                format!("dispositions/{}/{}", e.institution, e.alert_id),
            ),
            Event::Listing(e) => match &e.listing {
                None => (0, "watchlist".to_owned()),
                Some(l) => (
                    l.listed_at,
                    format!("watchlist/{}/{}", l.source, l.listed_at),
                ),
            },
        }
    }
}

/// How an event went at its subject.
enum Step {
    Duplicate,
    /// Not counted; what it raised all the same (a warning of a payment into a flagged
    /// account, an activation by someone listed).
    Late(Made),
    Applied(Made),
}

/// What an event made its subject publish.
#[derive(Default)]
struct Made {
    raised: Vec<Raised>,
    listings: Vec<WatchlistEntry>,
    lifts: Vec<String>,
}

impl From<Vec<Raised>> for Made {
    fn from(raised: Vec<Raised>) -> Made {
        Made {
            raised,
            ..Made::default()
        }
    }
}

pub struct Engine {
    policy: Policy,
    /// How far behind the watermark an identity's activations are kept.
    sims_kept: i64,
    /// How far behind the watermark an identity's openings are kept.
    opens_kept: i64,
    /// How far behind the watermark a device's uses are kept: its window and lateness.
    device_kept: i64,
    /// How far behind the watermark a number's records are kept: its lookback and lateness.
    msisdn_kept: i64,
    /// How far behind the watermark an account's legs are kept: its longest window and
    /// lateness.
    account_kept: i64,
}

impl Engine {
    pub fn new(policy: Policy) -> Engine {
        let lateness = policy.allowed_lateness;
        let windows = [
            policy.mule_pass_through.window,
            policy.mule_fan_in.window,
            policy.mule_fan_out.window,
            policy.new_account_velocity.window,
        ];
        let opens = policy
            .bulk_account_opener
            .window
            .max(policy.bulk_company_accounts.window);
        Engine {
            sims_kept: policy.bulk_sim_opener.window + lateness,
            opens_kept: opens + lateness,
            device_kept: policy.shared_device.window + lateness,
            msisdn_kept: policy.borrowed_phone.lookback + lateness,
            account_kept: windows.into_iter().max().unwrap_or_default() + lateness,
            policy,
        }
    }

    /// Apply `event` to the subject `key` whose state is `state`, read from `origin`;
    /// `watermark` is how far the subject's input has surely come (None: not known). Err
    /// names an event the subject's kind does not take.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &self,
        state: &mut SubjectState,
        key: &str,
        event: &Event,
        origin: &str,
        offset: Option<i64>,
        watermark: Option<i64>,
        now_us: i64,
    ) -> Result<Outcome, String> {
        let (at, delivery) = event.names();
        let step = match (&mut *state, event) {
            (SubjectState::Identity(identity), Event::Activation(e)) => {
                let record = SimRecord {
                    at: e.at,
                    event_id: e.event_id.clone(),
                    source: e.source.clone(),
                    msisdn: e.msisdn.clone(),
                    device: e.device.clone(),
                    outlet: e.outlet.clone(),
                };
                self.identity_sim(identity, key, record, origin, now_us)
            }
            (SubjectState::Identity(identity), Event::Opening(e)) => {
                let record = OpenRecord {
                    at: e.at,
                    event_id: e.event_id.clone(),
                    source: e.source.clone(),
                    account: e.account.clone(),
                    account_kind: e.account_kind.clone(),
                    company: e.company.clone(),
                    msisdn: e.msisdn.clone(),
                    device: e.device.clone(),
                };
                self.identity_open(identity, key, record, origin, now_us)
            }
            (SubjectState::Identity(identity), Event::Listing(e)) => {
                self.identity_listing(identity, key, e, origin, offset, now_us)
            }
            (SubjectState::Identity(identity), Event::Appeal(e)) => {
                self.identity_appeal(identity, key, e)
            }
            (SubjectState::Device(device), Event::Activation(e)) => {
                let record = DeviceUse {
                    at: e.at,
                    event_id: e.event_id.clone(),
                    source: e.source.clone(),
                    identity: e.identity.clone(),
                    msisdn: Some(e.msisdn.clone()),
                    carrier: Some(e.source.clone()),
                    account: None,
                    outlet: e.outlet.clone(),
                    company: None,
                };
                self.device_use(device, key, record, origin, now_us)
            }
            (SubjectState::Device(device), Event::Opening(e)) => {
                let record = DeviceUse {
                    at: e.at,
                    event_id: e.event_id.clone(),
                    source: e.source.clone(),
                    identity: e.identity.clone(),
                    msisdn: e.msisdn.clone(),
                    carrier: None,
                    account: Some(e.account.clone()),
                    outlet: None,
                    company: e.company.clone(),
                };
                self.device_use(device, key, record, origin, now_us)
            }
            (SubjectState::Msisdn(number), Event::Activation(e)) => {
                let record = NumberActivation {
                    at: e.at,
                    event_id: e.event_id.clone(),
                    source: e.source.clone(),
                    identity: e.identity.clone(),
                    device: e.device.clone(),
                    outlet: e.outlet.clone(),
                };
                let lateness = self.policy.allowed_lateness;
                let common = &mut number.common;
                match record_in(common, &mut number.activations, &record, origin, lateness) {
                    Some(step) => step,
                    None => Step::Applied(
                        borrowed_phone::on_activation(
                            number,
                            &record,
                            key,
                            &self.policy.borrowed_phone,
                            now_us,
                        )
                        .into(),
                    ),
                }
            }
            (SubjectState::Msisdn(number), Event::Opening(e)) => {
                let record = NumberUse {
                    at: e.at,
                    event_id: e.event_id.clone(),
                    source: e.source.clone(),
                    identity: e.identity.clone(),
                    account: e.account.clone(),
                    device: e.device.clone(),
                    company: e.company.clone(),
                };
                let lateness = self.policy.allowed_lateness;
                let common = &mut number.common;
                match record_in(common, &mut number.uses, &record, origin, lateness) {
                    Some(step) => step,
                    None => Step::Applied(
                        borrowed_phone::on_account_open(
                            number,
                            &record,
                            key,
                            &self.policy.borrowed_phone,
                            now_us,
                        )
                        .into_iter()
                        .collect::<Vec<_>>()
                        .into(),
                    ),
                }
            }
            (SubjectState::Account(account), Event::Opening(e)) => {
                self.account_open(account, key, e, now_us)
            }
            (SubjectState::Account(account), Event::Transfer(e)) => {
                self.account_leg(account, key, e, origin, now_us)
            }
            (SubjectState::Account(account), Event::Confirmation(e)) => {
                let fresh = vec![Flag {
                    at: e.decided_at,
                    alert_id: e.alert_id.clone(),
                    rule: format!("{} confirmed by {}", e.rule, e.institution),
                    holder: e.holder.clone(),
                }];
                let policy = &self.policy.payment_to_flagged;
                Step::Applied(
                    payment_to_flagged::check(account, None, fresh, key, policy, now_us).into(),
                )
            }
            (state, _) => {
                let kind = state.kind().name();
                return Err(format!("a {kind} subject takes no such event"));
            }
        };
        let mut outcome = Outcome {
            late: matches!(step, Step::Late(_)),
            ..Outcome::default()
        };
        match step {
            Step::Duplicate => {
                outcome.duplicate = true;
                if let Some(sent) = state.common().sent_by(&delivery) {
                    outcome.alerts.clone_from(&sent.alerts);
                    outcome.listings.clone_from(&sent.listings);
                }
                return Ok(outcome);
            }
            Step::Late(made) | Step::Applied(made) => {
                let common = state.common_mut();
                let mut until = at;
                for Raised { alert, window_end } in made.raised {
                    common.remember_alert(&alert.alert_id, &alert.rule, window_end);
                    let json =
                        serde_json::value::to_raw_value(&alert).map_err(|e| e.to_string())?;
                    outcome.alerts.push(json);
                    until = until.max(window_end);
                }
                for entry in made.listings {
                    let json =
                        serde_json::value::to_raw_value(&entry).map_err(|e| e.to_string())?;
                    outcome.listings.push(json);
                }
                outcome.lifts = made.lifts;
                let published = !outcome.alerts.is_empty() || !outcome.listings.is_empty();
                if published && !outcome.late {
                    let sent = Sent {
                        at: until,
                        alerts: outcome.alerts.clone(),
                        listings: outcome.listings.clone(),
                    };
                    common.remember_sent(&delivery, sent);
                }
            }
        }
        self.settle(state, watermark);
        Ok(outcome)
    }

    fn identity_sim(
        &self,
        identity: &mut IdentityState,
        key: &str,
        record: SimRecord,
        origin: &str,
        now_us: i64,
    ) -> Step {
        let recorded = self.identity_record(identity, key, Record::Sim(&record), origin, now_us);
        let made = match recorded {
            Ok(made) => made,
            Err(step) => return step,
        };
        let policy = &self.policy.bulk_sim_opener;
        let common = &mut identity.common;
        let bursts = bulk_sim_opener::check(common, &identity.sims, &record, key, policy, now_us);
        self.self_list(identity, key, made, bursts.into_iter().collect(), now_us)
    }

    fn identity_open(
        &self,
        identity: &mut IdentityState,
        key: &str,
        record: OpenRecord,
        origin: &str,
        now_us: i64,
    ) -> Step {
        let recorded = self.identity_record(identity, key, Record::Open(&record), origin, now_us);
        let made = match recorded {
            Ok(made) => made,
            Err(step) => return step,
        };
        let p = &self.policy;
        let (common, opens) = (&mut identity.common, &identity.opens);
        let accounts =
            bulk_account_opener::check(common, opens, &record, key, &p.bulk_account_opener, now_us);
        let companies = bulk_company_accounts::check(
            common,
            opens,
            &record,
            key,
            &p.bulk_company_accounts,
            now_us,
        );
        let bursts = accounts.into_iter().chain(companies).collect();
        self.self_list(identity, key, made, bursts, now_us)
    }

    /// Record an activation or an opening and check it against the listing in force
    /// (`engine._identity_event`): what it raised so far, or the step it ends at (a
    /// duplicate; late, with what the listing raised).
    fn identity_record(
        &self,
        identity: &mut IdentityState,
        key: &str,
        record: Record<'_>,
        origin: &str,
        now_us: i64,
    ) -> Result<Made, Step> {
        let lateness = self.policy.allowed_lateness;
        let common = &mut identity.common;
        let skipped = match record {
            Record::Sim(r) => record_in(common, &mut identity.sims, r, origin, lateness),
            Record::Open(r) => record_in(common, &mut identity.opens, r, origin, lateness),
        };
        if matches!(skipped, Some(Step::Duplicate)) {
            return Err(Step::Duplicate);
        }
        let listing = identity.listing.as_ref();
        let watchlisted = watchlisted_identity::check(listing, record, key, now_us);
        let made = Made::from(watchlisted.into_iter().collect::<Vec<_>>());
        match skipped {
            Some(_) => Err(Step::Late(made)),
            None => Ok(made),
        }
    }

    /// After the watchlist check, each burst alert, and the listing it makes the identity
    /// (unless one in force lasts as long), with what that listing covers.
    fn self_list(
        &self,
        identity: &mut IdentityState,
        key: &str,
        mut made: Made,
        bursts: Vec<Raised>,
        now_us: i64,
    ) -> Step {
        for burst in bursts {
            let (end, rule) = (burst.window_end, burst.alert.rule.clone());
            let trigger = burst.alert.trigger_event_id.clone();
            made.raised.push(burst);
            if let Some(listing) = self.self_listing(identity, end, &rule) {
                made.listings.push(entry_of(key, &listing));
                let covered = self.list(identity, key, listing, now_us, Some(&trigger));
                made.raised.extend(covered);
            }
        }
        Step::Applied(made)
    }

    /// The listing of the identity for `watchlist_ttl` from `at`, unless a listing in force
    /// already lasts at least as long (duanka never shortens an authority's listing).
    fn self_listing(&self, identity: &IdentityState, at: i64, rule: &str) -> Option<Listing> {
        let until = at + self.policy.watchlist_ttl;
        if let Some(current) = &identity.listing {
            // Python's `expires_at or until + 1`: no end (or the epoch) outlasts anything.
            let end = current
                .expires_at
                .filter(|end| *end != 0)
                .unwrap_or(until + 1);
            if current.covers(at) && end >= until {
                return None;
            }
        }
        Some(Listing {
            listed_at: at,
            expires_at: Some(until),
            source: self.policy.watchlist_source.clone(),
            reason: own_reason(rule),
        })
    }

    /// Replace the identity's listing; alert what the new one covers among the records
    /// (`engine._list`).
    fn list(
        &self,
        identity: &mut IdentityState,
        key: &str,
        listing: Listing,
        now_us: i64,
        trigger_event_id: Option<&str>,
    ) -> Vec<Raised> {
        let old = identity.listing.replace(listing.clone());
        if old.as_ref() == Some(&listing) {
            return Vec::new();
        }
        let own = &self.policy.watchlist_source;
        match &old {
            Some(old) if listing.source == *own && old.source != *own => {
                identity.replaced = Some(old.clone());
            }
            Some(_) if listing.source == *own => {}
            _ => identity.replaced = None,
        }
        let raised: Vec<&str> = identity
            .common
            .recent_alerts
            .iter()
            .map(|(id, _, _)| id.as_str())
            .collect();
        let checked_by_old = old.as_ref().filter(|old| old.source != *own);
        let mut records: Vec<Record<'_>> = identity.sims.records.iter().map(Record::Sim).collect();
        records.extend(identity.opens.records.iter().map(Record::Open));
        records.sort_by(python_order);
        let mut alerts = Vec::new();
        for record in records {
            let timed = record.timed();
            if Some(timed.event_id()) == trigger_event_id {
                continue;
            }
            if checked_by_old.is_some_and(|old| old.covers(timed.at())) {
                continue;
            }
            if let Some(alert) = watchlisted_identity::check(Some(&listing), record, key, now_us) {
                if !raised.contains(&alert.alert.alert_id.as_str()) {
                    alerts.push(alert);
                }
            }
        }
        alerts
    }

    /// Set or lift the listing from a watchlist record (`engine._identity_listing`).
    fn identity_listing(
        &self,
        identity: &mut IdentityState,
        key: &str,
        update: &ListingUpdate,
        origin: &str,
        offset: Option<i64>,
        now_us: i64,
    ) -> Step {
        if identity.read_again(origin, offset) {
            return Step::Duplicate;
        }
        let Some(listing) = &update.listing else {
            if update.lifted_own || identity.listing.is_none() {
                return Step::Duplicate;
            }
            identity.lift();
            return Step::Applied(Made::default());
        };
        let own = listing.source == self.policy.watchlist_source;
        if own || identity.listing.as_ref() == Some(listing) || identity.lifted.contains(listing) {
            return Step::Duplicate;
        }
        Step::Applied(
            self.list(identity, key, listing.clone(), now_us, None)
                .into(),
        )
    }

    /// An institution found an alert about the identity a false positive
    /// (`engine._identity_appeal`).
    fn identity_appeal(&self, identity: &mut IdentityState, key: &str, appeal: &Appeal) -> Step {
        let reason = own_reason(&appeal.rule);
        let by_it = |listing: &Listing| {
            listing.listed_at == appeal.listed_at
                && listing.source == self.policy.watchlist_source
                && listing.reason == reason
        };
        if identity.listing.as_ref().is_some_and(by_it) {
            let back = identity.replaced.clone();
            identity.lift();
            if let Some(back) = back {
                if back.expires_at.is_none_or(|end| end > appeal.decided_at) {
                    identity.listing = Some(back);
                }
            }
        } else if !identity.lifted.iter().any(by_it) {
            return Step::Applied(Made::default());
        }
        let made = match &identity.listing {
            None => Made {
                lifts: vec![key.to_owned()],
                ..Made::default()
            },
            Some(listing) => Made {
                listings: vec![entry_of(key, listing)],
                ..Made::default()
            },
        };
        Step::Applied(made)
    }

    fn device_use(
        &self,
        device: &mut crate::state::DeviceState,
        key: &str,
        record: DeviceUse,
        origin: &str,
        now_us: i64,
    ) -> Step {
        let lateness = self.policy.allowed_lateness;
        if let Some(step) = record_in(
            &mut device.common,
            &mut device.uses,
            &record,
            origin,
            lateness,
        ) {
            return step;
        }
        let policy = &self.policy.shared_device;
        let alert = shared_device::check(
            &mut device.common,
            &device.uses,
            &record,
            key,
            policy,
            now_us,
        );
        Step::Applied(alert.into_iter().collect::<Vec<_>>().into())
    }

    fn account_open(
        &self,
        account: &mut AccountState,
        key: &str,
        e: &Opening,
        now_us: i64,
    ) -> Step {
        if account.opening.is_some() {
            return Step::Duplicate; // an account is opened once
        }
        account.opening = Some(crate::state::Opening {
            at: e.at,
            event_id: e.event_id.clone(),
            source: e.source.clone(),
            account_kind: e.account_kind.clone(),
            holder: Some(e.identity.clone()),
        });
        let policy = &self.policy.new_account_velocity;
        let opening = account.opening.as_ref();
        let incoming = &account.incoming;
        let common = &mut account.common;
        let alert = new_account_velocity::check(
            common,
            opening,
            incoming,
            New::Opening,
            key,
            policy,
            now_us,
        );
        let mut raised: Vec<Raised> = alert.into_iter().collect();
        let warnings = self.warnings(account, key, None, &raised, now_us);
        raised.extend(warnings);
        Step::Applied(raised.into())
    }

    fn account_leg(
        &self,
        account: &mut AccountState,
        key: &str,
        e: &Transfer,
        origin: &str,
        now_us: i64,
    ) -> Step {
        let outgoing = e.outgoing;
        let (counterparty, institution, other) = if outgoing {
            (&e.to_account, &e.from_institution, &e.to_institution)
        } else {
            (&e.from_account, &e.to_institution, &e.from_institution)
        };
        let record = Leg {
            at: e.at,
            event_id: e.event_id.clone(),
            source: e.source.clone(),
            counterparty: counterparty.clone(),
            amount_minor: e.amount_minor,
            counted: e.currency == self.policy.currency,
            institution: institution.clone(),
            counterparty_institution: Some(other.clone()),
        };
        let incoming = (!outgoing).then_some(&record);
        let lateness = self.policy.allowed_lateness;
        let history = if outgoing {
            &mut account.outgoing
        } else {
            &mut account.incoming
        };
        match record_in(&mut account.common, history, &record, origin, lateness) {
            Some(Step::Late(_)) => {
                return Step::Late(self.warnings(account, key, incoming, &[], now_us).into());
            }
            Some(step) => return step,
            None => {}
        }
        let p = &self.policy;
        let holder = account.holder();
        let corporate = account
            .opening
            .as_ref()
            .is_some_and(|o| o.account_kind == "corporate");
        let legs = mule_pass_through::Legs {
            incoming: &account.incoming,
            outgoing: &account.outgoing,
            holder: holder.clone(),
        };
        let common = &mut account.common;
        let mut raised = Vec::new();
        raised.extend(mule_pass_through::check(
            common,
            &legs,
            &record,
            outgoing,
            key,
            &p.mule_pass_through,
            now_us,
        ));
        if outgoing {
            raised.extend(fan::check(
                fan::FAN_OUT,
                common,
                corporate,
                holder,
                &account.outgoing,
                &record,
                key,
                &p.mule_fan_out,
                now_us,
            ));
        } else {
            raised.extend(fan::check(
                fan::FAN_IN,
                common,
                corporate,
                holder,
                &account.incoming,
                &record,
                key,
                &p.mule_fan_in,
                now_us,
            ));
            raised.extend(new_account_velocity::check(
                common,
                account.opening.as_ref(),
                &account.incoming,
                New::Leg(&record),
                key,
                &p.new_account_velocity,
                now_us,
            ));
        }
        let warnings = self.warnings(account, key, incoming, &raised, now_us);
        raised.extend(warnings);
        Step::Applied(raised.into())
    }

    /// `payment_to_flagged` after the account's own rules: what they raised flags the
    /// account, and payments into it that a flag reaches are warned.
    fn warnings(
        &self,
        account: &mut AccountState,
        key: &str,
        incoming: Option<&Leg>,
        raised: &[Raised],
        now_us: i64,
    ) -> Vec<Raised> {
        let fresh = payment_to_flagged::flags_raised(raised);
        let policy = &self.policy.payment_to_flagged;
        payment_to_flagged::check(account, incoming, fresh, key, policy, now_us)
    }

    /// How far behind the watermark anything a subject of `kind` records is kept (ms).
    pub fn retention(&self, kind: Kind) -> i64 {
        match kind {
            Kind::Identity => self.sims_kept.max(self.opens_kept),
            Kind::Device => self.device_kept,
            Kind::Msisdn => self.msisdn_kept,
            Kind::Account => self.account_kept,
        }
    }

    /// Forget, in place, what no event at or after `watermark` minus the lateness can
    /// reach (None: not known yet, nothing is).
    pub fn settle(&self, state: &mut SubjectState, watermark: Option<i64>) {
        let Some(watermark) = watermark else {
            return;
        };
        let settled = watermark - self.policy.allowed_lateness;
        let kept = match state {
            SubjectState::Identity(identity) => {
                identity.sims.forget_before(watermark - self.sims_kept);
                identity.opens.forget_before(watermark - self.opens_kept);
                if identity.listing.is_some() || !identity.lifted.is_empty() {
                    identity.forget_listing_ended_by(settled);
                }
                self.sims_kept.max(self.opens_kept)
            }
            SubjectState::Device(device) => {
                device.uses.forget_before(watermark - self.device_kept);
                self.device_kept
            }
            SubjectState::Msisdn(number) => {
                number
                    .activations
                    .forget_before(watermark - self.msisdn_kept);
                number.uses.forget_before(watermark - self.msisdn_kept);
                self.msisdn_kept
            }
            SubjectState::Account(account) => {
                account
                    .incoming
                    .forget_before(watermark - self.account_kept);
                account
                    .outgoing
                    .forget_before(watermark - self.account_kept);
                let max_age = self.policy.new_account_velocity.max_account_age;
                let forgotten = |o: &crate::state::Opening| {
                    o.account_kind != "corporate" && o.at + max_age < settled
                };
                if account.opening.as_ref().is_some_and(forgotten) {
                    account.opening = None;
                }
                if !account.flags.is_empty() {
                    account.forget_flags_before(settled - self.policy.payment_to_flagged.flag_ttl);
                }
                self.account_kept
            }
        };
        let common = state.common_mut();
        common.forget_suppressions_before(settled);
        common.forget_sent_before(watermark - kept);
    }
}

/// Record an event in its stream's history; the step it ends at when it is a duplicate or
/// late.
fn record_in<R: Timed + Clone>(
    common: &mut Common,
    history: &mut History<R>,
    record: &R,
    origin: &str,
    lateness: i64,
) -> Option<Step> {
    if history.has(record.source(), record.event_id()) {
        return Some(Step::Duplicate);
    }
    if common.is_late(origin, record.at(), lateness) {
        return Some(Step::Late(Made::default()));
    }
    common.observe(origin, record.at());
    history.add(record.clone());
    None
}

/// The reason duanka gives for listing an identity itself.
fn own_reason(rule: &str) -> String {
    format!("{rule} detected by duanka")
}

/// The watchlist entry of an identity's listing.
fn entry_of(identity: &str, listing: &Listing) -> WatchlistEntry {
    WatchlistEntry {
        identity: identity.to_owned(),
        reason: listing.reason.clone(),
        listed_at: format_ms(listing.listed_at),
        expires_at: listing.expires_at.map(format_ms),
        source: listing.source.clone(),
    }
}

/// The order Python's `sorted` gives activations and openings together: their fields as
/// tuples, compared in turn.
fn python_order(a: &Record<'_>, b: &Record<'_>) -> Ordering {
    fn fields<'r>(record: &Record<'r>) -> (i64, &'r str, &'r str, Vec<Option<&'r str>>) {
        match record {
            Record::Sim(r) => (
                r.at,
                &r.event_id,
                &r.source,
                vec![Some(&r.msisdn), r.device.as_deref(), r.outlet.as_deref()],
            ),
            Record::Open(r) => (
                r.at,
                &r.event_id,
                &r.source,
                vec![
                    Some(&r.account),
                    Some(&r.account_kind),
                    r.company.as_deref(),
                    r.msisdn.as_deref(),
                    r.device.as_deref(),
                ],
            ),
        }
    }
    fields(a).cmp(&fields(b))
}
