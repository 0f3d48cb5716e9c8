//! The fast path of admission: an input event's bytes to its compact form
//! (`duanka/detector/core/compact.py`: its field values in its model's field order), when
//! they are plainly valid.
//!
//! `admit` answers `Some` only for a message the Python side (`core.intake`) accepts, with
//! the same values; `None` means "not plainly valid": the Python side then decides, and
//! explains a rejection in a dead letter. So a message is never rejected here, and the
//! subset accepted may be smaller than the contract's without changing what is admitted.

use serde::{Deserialize, Deserializer};

use crate::text::{is_code, is_currency, is_id, is_identity, is_msisdn};
use crate::timestamp::is_plain;

/// The largest message admitted (`duanka/schemas/codec.py`: `MAX_MESSAGE_BYTES`).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// The largest amount (`duanka/schemas/types.py`: `MAX_AMOUNT_MINOR`).
pub const MAX_AMOUNT_MINOR: u64 = 10_000_000_000_000;

/// The input topics whose events take the fast path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    SimActivations,
    AccountOpens,
    Transfers,
}

impl Topic {
    /// The topic of a name the contract gives it.
    pub fn named(name: &str) -> Option<Topic> {
        match name {
            "sim-activations" => Some(Topic::SimActivations),
            "account-opens" => Some(Topic::AccountOpens),
            "transfers" => Some(Topic::Transfers),
            _ => None,
        }
    }
}

/// One value of an event's compact form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    Text(String),
    Int(u64),
    Null,
}

/// An event's compact form if `raw` is plainly a valid event of `topic`.
pub fn admit(topic: Topic, raw: &[u8]) -> Option<Vec<Field>> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return None;
    }
    match topic {
        Topic::SimActivations => serde_json::from_slice::<SimActivation>(raw).ok()?.compact(),
        Topic::AccountOpens => serde_json::from_slice::<AccountOpen>(raw).ok()?.compact(),
        Topic::Transfers => serde_json::from_slice::<Transfer>(raw).ok()?.compact(),
    }
}

/// An optional field as written: absent, null, or given. A field the contract defaults
/// when absent but does not allow null (a transfer's currency) needs the difference.
#[derive(Default)]
enum Slot<T> {
    #[default]
    Absent,
    Null,
    Given(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Slot<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(deserializer)?.map_or(Slot::Null, Slot::Given))
    }
}

/// An optional id: absent or null is None; given, it must be an id.
fn optional(slot: Slot<String>, valid: fn(&str) -> bool) -> Option<Field> {
    match slot {
        Slot::Absent | Slot::Null => Some(Field::Null),
        Slot::Given(value) => valid(&value).then_some(Field::Text(value)),
    }
}

fn text(value: String, valid: fn(&str) -> bool) -> Option<Field> {
    valid(&value).then_some(Field::Text(value))
}

fn one_of(value: String, allowed: &[&str]) -> Option<Field> {
    allowed
        .contains(&value.as_str())
        .then_some(Field::Text(value))
}

/// `SimActivation` (`duanka/schemas/events.py`), fields in its order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimActivation {
    event_id: String,
    occurred_at: String,
    source: String,
    identity: String,
    msisdn: String,
    sim_kind: String,
    channel: String,
    #[serde(default)]
    outlet: Slot<String>,
    #[serde(default)]
    device: Slot<String>,
}

impl SimActivation {
    fn compact(self) -> Option<Vec<Field>> {
        Some(vec![
            text(self.event_id, is_id)?,
            text(self.occurred_at, is_plain)?,
            text(self.source, is_code)?,
            text(self.identity, is_identity)?,
            text(self.msisdn, is_msisdn)?,
            one_of(self.sim_kind, &["mno", "mvno", "iot"])?,
            one_of(self.channel, &["store", "online", "agent"])?,
            optional(self.outlet, is_id)?,
            optional(self.device, is_id)?,
        ])
    }
}

/// `AccountOpen` (`duanka/schemas/events.py`), fields in its order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountOpen {
    event_id: String,
    occurred_at: String,
    source: String,
    identity: String,
    account: String,
    account_kind: String,
    channel: String,
    #[serde(default)]
    msisdn: Slot<String>,
    #[serde(default)]
    device: Slot<String>,
    #[serde(default)]
    company: Slot<String>,
}

impl AccountOpen {
    fn compact(self) -> Option<Vec<Field>> {
        let corporate = self.account_kind == "corporate";
        let company = optional(self.company, is_id)?;
        if corporate && company == Field::Null {
            return None;
        }
        Some(vec![
            text(self.event_id, is_id)?,
            text(self.occurred_at, is_plain)?,
            text(self.source, is_code)?,
            text(self.identity, is_identity)?,
            text(self.account, is_id)?,
            one_of(self.account_kind, &["personal", "corporate", "payment"])?,
            one_of(self.channel, &["counter", "online", "mobile", "agent"])?,
            optional(self.msisdn, is_msisdn)?,
            optional(self.device, is_id)?,
            company,
        ])
    }
}

/// `Transfer` (`duanka/schemas/events.py`), fields in its order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Transfer {
    event_id: String,
    occurred_at: String,
    source: String,
    from_account: String,
    to_account: String,
    from_institution: String,
    to_institution: String,
    amount_minor: u64,
    #[serde(default)]
    currency: Slot<String>,
    channel: String,
}

impl Transfer {
    fn compact(self) -> Option<Vec<Field>> {
        if self.from_account == self.to_account
            || !(1..=MAX_AMOUNT_MINOR).contains(&self.amount_minor)
        {
            return None;
        }
        let currency = match self.currency {
            Slot::Absent => Field::Text("CNY".to_owned()),
            Slot::Null => return None,
            Slot::Given(code) => text(code, is_currency)?,
        };
        Some(vec![
            text(self.event_id, is_id)?,
            text(self.occurred_at, is_plain)?,
            text(self.source, is_code)?,
            text(self.from_account, is_id)?,
            text(self.to_account, is_id)?,
            text(self.from_institution, is_code)?,
            text(self.to_institution, is_code)?,
            Field::Int(self.amount_minor),
            currency,
            one_of(
                self.channel,
                &["online", "mobile", "atm", "counter", "third_party"],
            )?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRANSFER: &str = r#"{"event_id":"t1","occurred_at":"2026-11-28T09:15:00+08:00",
        "source":"icbc","from_account":"a","to_account":"b","from_institution":"icbc",
        "to_institution":"ccb","amount_minor":500,"channel":"mobile"}"#;

    #[test]
    fn a_plain_transfer_defaults_its_currency() {
        let values = admit(Topic::Transfers, TRANSFER.as_bytes());
        let values = values.unwrap_or_default();
        assert_eq!(values.get(7), Some(&Field::Int(500)));
        assert_eq!(values.get(8), Some(&Field::Text("CNY".to_owned())));
    }

    #[test]
    fn anything_unusual_is_left_to_python() {
        let cases = [
            TRANSFER.replace("500", "500.0"),
            TRANSFER.replace("500", "0"),
            TRANSFER.replace(r#""to_account":"b""#, r#""to_account":"a""#),
            TRANSFER.replace(r#""channel""#, r#""currency":null,"channel""#),
            TRANSFER.replace(r#""channel""#, r#""extra":1,"channel""#),
            TRANSFER.replace(r#""channel""#, r#""source":"x","channel""#),
            TRANSFER.replace("+08:00", ""),
            format!("{TRANSFER} x"),
        ];
        for case in cases {
            assert_eq!(admit(Topic::Transfers, case.as_bytes()), None, "{case}");
        }
    }
}
