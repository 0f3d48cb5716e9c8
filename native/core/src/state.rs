//! Per-subject state (`duanka/detector/core/state.py`) and its encoding: the same JSON
//! arrays, byte for byte, so that a changelog record written by either side reads on the
//! other.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::alerting::{EntityKind, Evident};
use crate::history::{History, Timed};

pub const STATE_VERSION: u8 = 8;
pub const MAX_RECENT_ALERTS: usize = 20;

/// What one event made a subject publish, as wire JSON; `at` is when it is forgotten.
#[derive(Clone, Debug)]
pub struct Sent {
    pub at: i64,
    pub alerts: Vec<Box<RawValue>>,
    pub listings: Vec<Box<RawValue>>,
}

/// What every subject keeps besides its own records. Each map is a list of pairs in the
/// order Python's dictionaries keep: insertion, a replaced value keeping its place.
#[derive(Clone, Debug, Default)]
pub struct Common {
    /// Per origin (input topic partition), the newest event time seen from it.
    pub newest: Vec<(String, i64)>,
    /// Per rule, the event-time interval [fired, until) in which it stays quiet.
    pub suppressions: Vec<(String, (i64, i64))>,
    /// The latest alerts raised: id, rule, window end.
    pub recent_alerts: Vec<(String, String, i64)>,
    /// Per event (`source/event_id`), what it made the subject publish.
    pub sent: Vec<(String, Sent)>,
}

fn put<V>(pairs: &mut Vec<(String, V)>, key: &str, value: V) {
    match pairs.iter_mut().find(|(k, _)| k == key) {
        Some(pair) => pair.1 = value,
        None => pairs.push((key.to_owned(), value)),
    }
}

impl Common {
    /// Whether `at` is further behind the origin's newest event time than allowed.
    pub fn is_late(&self, origin: &str, at: i64, lateness: i64) -> bool {
        self.newest
            .iter()
            .any(|(o, newest)| o == origin && at < newest - lateness)
    }

    /// Advance the origin's newest event time.
    pub fn observe(&mut self, origin: &str, at: i64) {
        match self.newest.iter_mut().find(|(o, _)| o == origin) {
            Some(pair) if at > pair.1 => pair.1 = at,
            Some(_) => {}
            None => self.newest.push((origin.to_owned(), at)),
        }
    }

    pub fn suppress(&mut self, rule: &str, fired: i64, until: i64) {
        put(&mut self.suppressions, rule, (fired, until));
    }

    pub fn suppressed(&self, rule: &str, at: i64) -> bool {
        self.suppressions
            .iter()
            .any(|(r, (fired, until))| r == rule && *fired <= at && at < *until)
    }

    /// Keep the latest alerts, newest last, at most MAX_RECENT_ALERTS.
    pub fn remember_alert(&mut self, alert_id: &str, rule: &str, at: i64) {
        self.recent_alerts
            .push((alert_id.to_owned(), rule.to_owned(), at));
        let excess = self.recent_alerts.len().saturating_sub(MAX_RECENT_ALERTS);
        self.recent_alerts.drain(..excess);
    }

    pub fn remember_sent(&mut self, key: &str, sent: Sent) {
        put(&mut self.sent, key, sent);
    }

    pub fn sent_by(&self, key: &str) -> Option<&Sent> {
        self.sent.iter().find(|(k, _)| k == key).map(|(_, s)| s)
    }

    pub fn forget_sent_before(&mut self, horizon: i64) {
        self.sent.retain(|(_, sent)| sent.at > horizon);
    }

    pub fn forget_suppressions_before(&mut self, horizon: i64) {
        self.suppressions.retain(|(_, (_, until))| *until > horizon);
    }
}

macro_rules! timed {
    ($record:ty) => {
        impl Timed for $record {
            fn at(&self) -> i64 {
                self.at
            }
            fn event_id(&self) -> &str {
                &self.event_id
            }
            fn source(&self) -> &str {
                &self.source
            }
        }
    };
}

/// An identity activating a SIM or opening an account on a device (`DeviceUse`).
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceUse {
    pub at: i64,
    pub event_id: String,
    pub source: String,
    pub identity: String,
    pub msisdn: Option<String>,
    pub carrier: Option<String>,
    pub account: Option<String>,
    pub outlet: Option<String>,
    pub company: Option<String>,
}

timed!(DeviceUse);

impl Evident for DeviceUse {
    fn entities(&self) -> Vec<(EntityKind, &str)> {
        let named = [
            (EntityKind::Identity, Some(self.identity.as_str())),
            (EntityKind::Msisdn, self.msisdn.as_deref()),
            (EntityKind::Account, self.account.as_deref()),
            (EntityKind::Outlet, self.outlet.as_deref()),
            (EntityKind::Company, self.company.as_deref()),
        ];
        named
            .into_iter()
            .filter_map(|(kind, id)| id.map(|id| (kind, id)))
            .collect()
    }
}

impl Serialize for DeviceUse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (
            self.at,
            &self.event_id,
            &self.source,
            &self.identity,
            &self.msisdn,
            &self.carrier,
            &self.account,
            &self.outlet,
            &self.company,
        )
            .serialize(serializer)
    }
}

/// An identity activating a phone number (`NumberActivation`).
#[derive(Clone, Debug, PartialEq)]
pub struct NumberActivation {
    pub at: i64,
    pub event_id: String,
    pub source: String,
    pub identity: String,
    pub device: Option<String>,
    pub outlet: Option<String>,
}

/// An account opened with a phone number (`NumberUse`).
#[derive(Clone, Debug, PartialEq)]
pub struct NumberUse {
    pub at: i64,
    pub event_id: String,
    pub source: String,
    pub identity: String,
    pub account: String,
    pub device: Option<String>,
    pub company: Option<String>,
}

timed!(NumberActivation);
timed!(NumberUse);

impl Evident for NumberActivation {
    fn entities(&self) -> Vec<(EntityKind, &str)> {
        named(&[
            (EntityKind::Identity, Some(&self.identity)),
            (EntityKind::Device, self.device.as_ref()),
            (EntityKind::Outlet, self.outlet.as_ref()),
        ])
    }
}

impl Evident for NumberUse {
    fn entities(&self) -> Vec<(EntityKind, &str)> {
        named(&[
            (EntityKind::Identity, Some(&self.identity)),
            (EntityKind::Account, Some(&self.account)),
            (EntityKind::Device, self.device.as_ref()),
            (EntityKind::Company, self.company.as_ref()),
        ])
    }
}

fn named<'a>(entities: &[(EntityKind, Option<&'a String>)]) -> Vec<(EntityKind, &'a str)> {
    entities
        .iter()
        .filter_map(|(kind, id)| id.map(|id| (*kind, id.as_str())))
        .collect()
}

impl Serialize for NumberActivation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Self {
            at,
            event_id,
            source,
            identity,
            device,
            outlet,
        } = self;
        (at, event_id, source, identity, device, outlet).serialize(serializer)
    }
}

impl Serialize for NumberUse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Self {
            at,
            event_id,
            source,
            identity,
            account,
            device,
            company,
        } = self;
        (at, event_id, source, identity, account, device, company).serialize(serializer)
    }
}

/// A SIM activation by an identity (`SimRecord`).
#[derive(Clone, Debug, PartialEq)]
pub struct SimRecord {
    pub at: i64,
    pub event_id: String,
    pub source: String,
    pub msisdn: String,
    pub device: Option<String>,
    pub outlet: Option<String>,
}

/// An account opened by an identity (`OpenRecord`).
#[derive(Clone, Debug, PartialEq)]
pub struct OpenRecord {
    pub at: i64,
    pub event_id: String,
    pub source: String,
    pub account: String,
    pub account_kind: String,
    pub company: Option<String>,
    pub msisdn: Option<String>,
    pub device: Option<String>,
}

timed!(SimRecord);
timed!(OpenRecord);

impl Evident for SimRecord {
    fn entities(&self) -> Vec<(EntityKind, &str)> {
        named(&[
            (EntityKind::Msisdn, Some(&self.msisdn)),
            (EntityKind::Device, self.device.as_ref()),
            (EntityKind::Outlet, self.outlet.as_ref()),
        ])
    }
}

impl Evident for OpenRecord {
    fn entities(&self) -> Vec<(EntityKind, &str)> {
        named(&[
            (EntityKind::Account, Some(&self.account)),
            (EntityKind::Company, self.company.as_ref()),
            (EntityKind::Msisdn, self.msisdn.as_ref()),
            (EntityKind::Device, self.device.as_ref()),
        ])
    }
}

impl Serialize for SimRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Self {
            at,
            event_id,
            source,
            msisdn,
            device,
            outlet,
        } = self;
        (at, event_id, source, msisdn, device, outlet).serialize(serializer)
    }
}

impl Serialize for OpenRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Self {
            at,
            event_id,
            source,
            account,
            account_kind,
            company,
            msisdn,
            device,
        } = self;
        (
            at,
            event_id,
            source,
            account,
            account_kind,
            company,
            msisdn,
            device,
        )
            .serialize(serializer)
    }
}

/// An identity's watchlisting (`Listing`): barred from new services from `listed_at`.
#[derive(Clone, Debug, PartialEq)]
pub struct Listing {
    pub listed_at: i64,
    pub expires_at: Option<i64>,
    pub source: String,
    pub reason: String,
}

impl Listing {
    /// Whether the listing is in force at event time `at`.
    pub fn covers(&self, at: i64) -> bool {
        self.listed_at <= at && self.expires_at.is_none_or(|end| at < end)
    }

    fn ended_by(&self, horizon: i64) -> bool {
        self.expires_at.is_some_and(|end| end <= horizon)
    }
}

impl Serialize for Listing {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.listed_at, self.expires_at, &self.source, &self.reason).serialize(serializer)
    }
}

/// The most lifted listings an identity remembers.
pub const MAX_LIFTED: usize = 8;

/// A person: SIM activations, account openings and watchlisting.
#[derive(Clone, Debug, Default)]
pub struct IdentityState {
    pub common: Common,
    pub sims: History<SimRecord>,
    pub opens: History<OpenRecord>,
    pub listing: Option<Listing>,
    /// The listings tombstones lifted, newest last, at most MAX_LIFTED.
    pub lifted: Vec<Listing>,
    /// The authority's listing that duanka's own listing in force replaced.
    pub replaced: Option<Listing>,
    /// Per watchlist partition, the offset of the last record about the identity read there.
    pub watchlist_read: Vec<(String, i64)>,
}

impl IdentityState {
    /// Whether a watchlist record read at `offset` of `origin` is one delivered again; if
    /// not, it is the last one read there.
    pub fn read_again(&mut self, origin: &str, offset: Option<i64>) -> bool {
        let Some(offset) = offset else {
            return false;
        };
        let last = self
            .watchlist_read
            .iter()
            .find(|(o, _)| o == origin)
            .map_or(-1, |(_, last)| *last);
        if offset <= last {
            return true;
        }
        put(&mut self.watchlist_read, origin, offset);
        false
    }

    /// Lift the listing in force (a tombstone), and remember it.
    pub fn lift(&mut self) {
        if let Some(listing) = self.listing.take() {
            self.lifted.push(listing);
            let excess = self.lifted.len().saturating_sub(MAX_LIFTED);
            self.lifted.drain(..excess);
        }
        self.replaced = None;
    }

    /// Drop a listing, in force, replaced or lifted, that ended at or before `horizon`.
    pub fn forget_listing_ended_by(&mut self, horizon: i64) {
        if self.listing.as_ref().is_some_and(|l| l.ended_by(horizon)) {
            self.listing = None;
        }
        if self.replaced.as_ref().is_some_and(|l| l.ended_by(horizon)) {
            self.replaced = None;
        }
        self.lifted.retain(|listing| !listing.ended_by(horizon));
    }
}

/// One side of a transfer, seen from the account (`Leg`): `counted` is whether the amount
/// is in the policy's currency; `institution` holds the account.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Leg {
    pub at: i64,
    pub event_id: String,
    pub source: String,
    pub counterparty: String,
    pub amount_minor: u64,
    pub counted: bool,
    pub institution: String,
    pub counterparty_institution: Option<String>,
}

timed!(Leg);

impl Evident for Leg {
    fn entities(&self) -> Vec<(EntityKind, &str)> {
        Vec::new()
    }
    fn counterparty(&self) -> Option<&str> {
        Some(&self.counterparty)
    }
}

impl Serialize for Leg {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Self {
            at,
            event_id,
            source,
            counterparty,
            amount_minor,
            counted,
            institution,
            counterparty_institution,
        } = self;
        let fields = (
            at,
            event_id,
            source,
            counterparty,
            amount_minor,
            counted,
            institution,
        );
        let (a, b, c, d, e, f, g) = fields;
        (a, b, c, d, e, f, g, counterparty_institution).serialize(serializer)
    }
}

/// How and when an account was opened, and by whom (`Opening`).
#[derive(Clone, Debug, PartialEq)]
pub struct Opening {
    pub at: i64,
    pub event_id: String,
    pub source: String,
    pub account_kind: String,
    pub holder: Option<String>,
}

impl Serialize for Opening {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Self {
            at,
            event_id,
            source,
            account_kind,
            holder,
        } = self;
        (at, event_id, source, account_kind, holder).serialize(serializer)
    }
}

/// A flag on an account (`Flag`): payments into it from `at` are warned.
#[derive(Clone, Debug, PartialEq)]
pub struct Flag {
    pub at: i64,
    pub alert_id: String,
    pub rule: String,
    pub holder: Option<String>,
}

impl Flag {
    fn order(&self) -> (i64, &str, &str, &str) {
        let holder = self.holder.as_deref().unwrap_or_default();
        (self.at, &self.alert_id, &self.rule, holder)
    }
}

impl Serialize for Flag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.at, &self.alert_id, &self.rule, &self.holder).serialize(serializer)
    }
}

/// An account: how it was opened, and the money in and out.
#[derive(Clone, Debug, Default)]
pub struct AccountState {
    pub common: Common,
    pub opening: Option<Opening>,
    pub incoming: History<Leg>,
    pub outgoing: History<Leg>,
    /// The flags in force or still to be reached by an event in time, in time order.
    pub flags: Vec<Flag>,
}

impl AccountState {
    /// Keep a flag in time order; one kept already is kept once.
    pub fn flag(&mut self, flag: Flag) {
        if !self.flags.contains(&flag) {
            let index = self.flags.partition_point(|f| f.order() <= flag.order());
            self.flags.insert(index, flag);
        }
    }

    /// Drop the flags raised at or before `horizon`.
    pub fn forget_flags_before(&mut self, horizon: i64) {
        self.flags.retain(|flag| flag.at > horizon);
    }

    /// The identity that opened the account, when its opening is known.
    pub fn holder(&self) -> Option<String> {
        self.opening.as_ref().and_then(|o| o.holder.clone())
    }
}

/// A handset or modem: who activated SIMs or opened accounts on it.
#[derive(Clone, Debug, Default)]
pub struct DeviceState {
    pub common: Common,
    pub uses: History<DeviceUse>,
}

/// A phone number: who activated it, and which accounts were opened with it.
#[derive(Clone, Debug, Default)]
pub struct MsisdnState {
    pub common: Common,
    pub activations: History<NumberActivation>,
    pub uses: History<NumberUse>,
}

/// The subject kinds the native engine holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Identity,
    Device,
    Msisdn,
    Account,
}

impl Kind {
    pub fn named(name: &str) -> Option<Kind> {
        match name {
            "identity" => Some(Kind::Identity),
            "device" => Some(Kind::Device),
            "msisdn" => Some(Kind::Msisdn),
            "account" => Some(Kind::Account),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Identity => "identity",
            Kind::Device => "device",
            Kind::Msisdn => "msisdn",
            Kind::Account => "account",
        }
    }
}

/// One subject's state, of its kind.
#[derive(Clone, Debug)]
pub enum SubjectState {
    Identity(IdentityState),
    Device(DeviceState),
    Msisdn(MsisdnState),
    Account(AccountState),
}

impl SubjectState {
    /// A subject of `kind` with nothing recorded.
    pub fn new(kind: Kind) -> SubjectState {
        match kind {
            Kind::Identity => SubjectState::Identity(IdentityState::default()),
            Kind::Device => SubjectState::Device(DeviceState::default()),
            Kind::Msisdn => SubjectState::Msisdn(MsisdnState::default()),
            Kind::Account => SubjectState::Account(AccountState::default()),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            SubjectState::Identity(_) => Kind::Identity,
            SubjectState::Device(_) => Kind::Device,
            SubjectState::Msisdn(_) => Kind::Msisdn,
            SubjectState::Account(_) => Kind::Account,
        }
    }

    pub fn common(&self) -> &Common {
        match self {
            SubjectState::Identity(state) => &state.common,
            SubjectState::Device(state) => &state.common,
            SubjectState::Msisdn(state) => &state.common,
            SubjectState::Account(state) => &state.common,
        }
    }

    pub fn common_mut(&mut self) -> &mut Common {
        match self {
            SubjectState::Identity(state) => &mut state.common,
            SubjectState::Device(state) => &mut state.common,
            SubjectState::Msisdn(state) => &mut state.common,
            SubjectState::Account(state) => &mut state.common,
        }
    }

    /// True when nothing is worth keeping, so the key can be deleted.
    pub fn is_empty(&self) -> bool {
        let histories = match self {
            SubjectState::Identity(state) => {
                state.sims.is_empty()
                    && state.opens.is_empty()
                    && state.listing.is_none()
                    && state.lifted.is_empty()
                    && state.replaced.is_none()
                    && state.watchlist_read.is_empty()
            }
            SubjectState::Device(state) => state.uses.is_empty(),
            SubjectState::Msisdn(state) => state.activations.is_empty() && state.uses.is_empty(),
            SubjectState::Account(state) => {
                state.opening.is_none()
                    && state.flags.is_empty()
                    && state.incoming.is_empty()
                    && state.outgoing.is_empty()
            }
        };
        self.common().suppressions.is_empty() && histories
    }

    /// `[version, kind, newest, suppressions, recent alerts, sent, *histories]`, as JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&Encoded(self))
    }

    /// The state `to_json` wrote (of this version only) for a subject of `kind`.
    pub fn from_json(kind: Kind, data: &[u8]) -> Result<SubjectState, String> {
        let value: Value = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        let (common, own) = decode_common(&value, kind.name())?;
        match (kind, own) {
            (Kind::Identity, [sims, opens, listing, lifted, replaced, read]) => {
                let mut watchlist_read = Vec::new();
                for (origin, offset) in as_object(read)? {
                    watchlist_read.push((origin.clone(), int(offset)?));
                }
                Ok(SubjectState::Identity(IdentityState {
                    common,
                    sims: history(sims, sim_record)?,
                    opens: history(opens, open_record)?,
                    listing: optional_listing(listing)?,
                    lifted: as_array(lifted)?
                        .iter()
                        .map(listing_of)
                        .collect::<Result<_, _>>()?,
                    replaced: optional_listing(replaced)?,
                    watchlist_read,
                }))
            }
            (Kind::Device, [uses]) => Ok(SubjectState::Device(DeviceState {
                common,
                uses: history(uses, device_use)?,
            })),
            (Kind::Msisdn, [activations, uses]) => Ok(SubjectState::Msisdn(MsisdnState {
                common,
                activations: history(activations, number_activation)?,
                uses: history(uses, number_use)?,
            })),
            (Kind::Account, [opening, incoming, outgoing, flags]) => {
                Ok(SubjectState::Account(AccountState {
                    common,
                    opening: match opening {
                        Value::Null => None,
                        value => Some(account_opening(value)?),
                    },
                    incoming: history(incoming, leg)?,
                    outgoing: history(outgoing, leg)?,
                    flags: as_array(flags)?
                        .iter()
                        .map(flag)
                        .collect::<Result<_, _>>()?,
                }))
            }
            _ => Err(format!("a {} state of another shape", kind.name())),
        }
    }
}

fn history<R>(
    value: &Value,
    record: fn(&Value) -> Result<R, String>,
) -> Result<History<R>, String> {
    let records = as_array(value)?
        .iter()
        .map(record)
        .collect::<Result<_, _>>()?;
    Ok(History { records })
}

struct Encoded<'a>(&'a SubjectState);

struct Pairs<'a, V>(&'a [(String, V)]);

impl<V: Serialize> Serialize for Pairs<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl Serialize for Sent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.at, &self.alerts, &self.listings).serialize(serializer)
    }
}

impl Serialize for Encoded<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let state = self.0;
        let common = state.common();
        let mut seq = serializer.serialize_seq(None)?;
        seq.serialize_element(&STATE_VERSION)?;
        match state {
            SubjectState::Identity(_) => seq.serialize_element("identity")?,
            SubjectState::Device(_) => seq.serialize_element("device")?,
            SubjectState::Msisdn(_) => seq.serialize_element("msisdn")?,
            SubjectState::Account(_) => seq.serialize_element("account")?,
        }
        seq.serialize_element(&Pairs(&common.newest))?;
        seq.serialize_element(&Pairs(&common.suppressions))?;
        seq.serialize_element(&common.recent_alerts)?;
        seq.serialize_element(&Pairs(&common.sent))?;
        match state {
            SubjectState::Identity(identity) => {
                seq.serialize_element(&identity.sims.records)?;
                seq.serialize_element(&identity.opens.records)?;
                seq.serialize_element(&identity.listing)?;
                seq.serialize_element(&identity.lifted)?;
                seq.serialize_element(&identity.replaced)?;
                seq.serialize_element(&Pairs(&identity.watchlist_read))?;
            }
            SubjectState::Device(device) => seq.serialize_element(&device.uses.records)?,
            SubjectState::Msisdn(msisdn) => {
                seq.serialize_element(&msisdn.activations.records)?;
                seq.serialize_element(&msisdn.uses.records)?;
            }
            SubjectState::Account(account) => {
                seq.serialize_element(&account.opening)?;
                seq.serialize_element(&account.incoming.records)?;
                seq.serialize_element(&account.outgoing.records)?;
                seq.serialize_element(&account.flags)?;
            }
        }
        seq.end()
    }
}

fn as_array(value: &Value) -> Result<&Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("not an array: {value}"))
}

fn as_object(value: &Value) -> Result<&serde_json::Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("not an object: {value}"))
}

fn int(value: &Value) -> Result<i64, String> {
    value
        .as_i64()
        .ok_or_else(|| format!("not an integer: {value}"))
}

fn text(value: &Value) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("not a string: {value}"))
}

fn optional_text(value: Option<&Value>) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => text(value).map(Some),
    }
}

fn raw(value: &Value) -> Result<Box<RawValue>, String> {
    serde_json::value::to_raw_value(value).map_err(|e| e.to_string())
}

/// The common fields of an encoded state of `kind`, and its own fields.
fn decode_common<'a>(value: &'a Value, kind: &str) -> Result<(Common, &'a [Value]), String> {
    let fields = as_array(value)?;
    let [version, found, newest, suppressions, alerts, sent, own @ ..] = fields.as_slice() else {
        return Err("not a subject state".to_owned());
    };
    if int(version)? != i64::from(STATE_VERSION) {
        return Err(format!("state version {version} is not supported"));
    }
    if found.as_str() != Some(kind) {
        return Err(format!("state of a {found}, not of a {kind}"));
    }
    let mut common = Common::default();
    for (origin, at) in as_object(newest)? {
        common.newest.push((origin.clone(), int(at)?));
    }
    for (rule, span) in as_object(suppressions)? {
        let [fired, until] = as_array(span)?.as_slice() else {
            return Err(format!("not a suppression: {span}"));
        };
        common
            .suppressions
            .push((rule.clone(), (int(fired)?, int(until)?)));
    }
    for alert in as_array(alerts)? {
        let [id, rule, at] = as_array(alert)?.as_slice() else {
            return Err(format!("not a recent alert: {alert}"));
        };
        common
            .recent_alerts
            .push((text(id)?, text(rule)?, int(at)?));
    }
    for (key, entry) in as_object(sent)? {
        let [at, alerts, listings] = as_array(entry)?.as_slice() else {
            return Err(format!("not what an event sent: {entry}"));
        };
        let alerts = as_array(alerts)?
            .iter()
            .map(raw)
            .collect::<Result<_, _>>()?;
        let listings = as_array(listings)?
            .iter()
            .map(raw)
            .collect::<Result<_, _>>()?;
        common.sent.push((
            key.clone(),
            Sent {
                at: int(at)?,
                alerts,
                listings,
            },
        ));
    }
    Ok((common, own))
}

fn device_use(value: &Value) -> Result<DeviceUse, String> {
    let fields = as_array(value)?;
    let [at, event_id, source, identity, rest @ ..] = fields.as_slice() else {
        return Err(format!("not a device use: {value}"));
    };
    Ok(DeviceUse {
        at: int(at)?,
        event_id: text(event_id)?,
        source: text(source)?,
        identity: text(identity)?,
        msisdn: optional_text(rest.first())?,
        carrier: optional_text(rest.get(1))?,
        account: optional_text(rest.get(2))?,
        outlet: optional_text(rest.get(3))?,
        company: optional_text(rest.get(4))?,
    })
}

fn number_activation(value: &Value) -> Result<NumberActivation, String> {
    let fields = as_array(value)?;
    let [at, event_id, source, identity, rest @ ..] = fields.as_slice() else {
        return Err(format!("not a number activation: {value}"));
    };
    Ok(NumberActivation {
        at: int(at)?,
        event_id: text(event_id)?,
        source: text(source)?,
        identity: text(identity)?,
        device: optional_text(rest.first())?,
        outlet: optional_text(rest.get(1))?,
    })
}

fn number_use(value: &Value) -> Result<NumberUse, String> {
    let fields = as_array(value)?;
    let [at, event_id, source, identity, account, rest @ ..] = fields.as_slice() else {
        return Err(format!("not a number use: {value}"));
    };
    Ok(NumberUse {
        at: int(at)?,
        event_id: text(event_id)?,
        source: text(source)?,
        identity: text(identity)?,
        account: text(account)?,
        device: optional_text(rest.first())?,
        company: optional_text(rest.get(1))?,
    })
}

fn leg(value: &Value) -> Result<Leg, String> {
    let fields = as_array(value)?;
    let [at, event_id, source, counterparty, amount, counted, institution, rest @ ..] =
        fields.as_slice()
    else {
        return Err(format!("not a leg: {value}"));
    };
    Ok(Leg {
        at: int(at)?,
        event_id: text(event_id)?,
        source: text(source)?,
        counterparty: text(counterparty)?,
        amount_minor: amount
            .as_u64()
            .ok_or_else(|| format!("not an amount: {amount}"))?,
        counted: counted
            .as_bool()
            .ok_or_else(|| format!("not a boolean: {counted}"))?,
        institution: text(institution)?,
        counterparty_institution: optional_text(rest.first())?,
    })
}

fn account_opening(value: &Value) -> Result<Opening, String> {
    let fields = as_array(value)?;
    let [at, event_id, source, account_kind, rest @ ..] = fields.as_slice() else {
        return Err(format!("not an opening: {value}"));
    };
    Ok(Opening {
        at: int(at)?,
        event_id: text(event_id)?,
        source: text(source)?,
        account_kind: text(account_kind)?,
        holder: optional_text(rest.first())?,
    })
}

fn flag(value: &Value) -> Result<Flag, String> {
    let fields = as_array(value)?;
    let [at, alert_id, rule, rest @ ..] = fields.as_slice() else {
        return Err(format!("not a flag: {value}"));
    };
    Ok(Flag {
        at: int(at)?,
        alert_id: text(alert_id)?,
        rule: text(rule)?,
        holder: optional_text(rest.first())?,
    })
}

fn sim_record(value: &Value) -> Result<SimRecord, String> {
    let fields = as_array(value)?;
    let [at, event_id, source, msisdn, rest @ ..] = fields.as_slice() else {
        return Err(format!("not a SIM record: {value}"));
    };
    Ok(SimRecord {
        at: int(at)?,
        event_id: text(event_id)?,
        source: text(source)?,
        msisdn: text(msisdn)?,
        device: optional_text(rest.first())?,
        outlet: optional_text(rest.get(1))?,
    })
}

fn open_record(value: &Value) -> Result<OpenRecord, String> {
    let fields = as_array(value)?;
    let [at, event_id, source, account, account_kind, company, rest @ ..] = fields.as_slice()
    else {
        return Err(format!("not an open record: {value}"));
    };
    Ok(OpenRecord {
        at: int(at)?,
        event_id: text(event_id)?,
        source: text(source)?,
        account: text(account)?,
        account_kind: text(account_kind)?,
        company: optional_text(Some(company))?,
        msisdn: optional_text(rest.first())?,
        device: optional_text(rest.get(1))?,
    })
}

fn listing_of(value: &Value) -> Result<Listing, String> {
    let fields = as_array(value)?;
    let [listed_at, expires_at, source, reason] = fields.as_slice() else {
        return Err(format!("not a listing: {value}"));
    };
    Ok(Listing {
        listed_at: int(listed_at)?,
        expires_at: match expires_at {
            Value::Null => None,
            value => Some(int(value)?),
        },
        source: text(source)?,
        reason: text(reason)?,
    })
}

fn optional_listing(value: &Value) -> Result<Option<Listing>, String> {
    match value {
        Value::Null => Ok(None),
        value => listing_of(value).map(Some),
    }
}
