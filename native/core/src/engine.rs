//! The detection engine (`duanka/detector/core/engine.py`): (subject state, event) -> (new
//! state, alerts). It owns the order of work for an event at one subject: idempotency,
//! lateness, recording, the subject's rules, then forgetting what no window reaches.
//! Built so far: the device, number and account subjects.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::alerting::Raised;
use crate::history::{History, Timed};
use crate::rules::new_account_velocity::New;
use crate::rules::{
    borrowed_phone, fan, mule_pass_through, new_account_velocity, payment_to_flagged, shared_device,
};
use crate::state::{
    AccountState, Common, DeviceUse, Flag, Leg, NumberActivation, NumberUse, Sent, SubjectState,
};
use crate::timestamp::epoch_ms;

/// The policy's numbers the engine reads, from `Policy.in_ms` (every duration in
/// milliseconds; the rest of the policy is not read here).
#[derive(Clone, Debug, Deserialize)]
pub struct Policy {
    pub allowed_lateness: i64,
    pub currency: String,
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

/// An event at a subject, from the compact form a bundle carries
/// (`duanka/detector/core/compact.py`).
pub enum Event {
    Activation(Activation),
    Opening(Opening),
    Transfer(Transfer),
    Confirmation(Confirmation),
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
        }
    }
}

/// How an event went at its subject.
enum Step {
    Duplicate,
    /// Not counted; what it raised all the same (a warning of a payment into a flagged
    /// account).
    Late(Vec<Raised>),
    Applied(Vec<Raised>),
}

pub struct Engine {
    policy: Policy,
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
        Engine {
            device_kept: policy.shared_device.window + lateness,
            msisdn_kept: policy.borrowed_phone.lookback + lateness,
            account_kept: windows.into_iter().max().unwrap_or_default() + lateness,
            policy,
        }
    }

    /// Apply `event` to the subject `key` whose state is `state`, read from `origin`;
    /// `watermark` is how far the subject's input has surely come (None: not known). Err
    /// names an event the subject's kind does not take.
    pub fn apply(
        &self,
        state: &mut SubjectState,
        key: &str,
        event: &Event,
        origin: &str,
        watermark: Option<i64>,
        now_us: i64,
    ) -> Result<Outcome, String> {
        let (at, delivery) = event.names();
        let step = match (&mut *state, event) {
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
                    None => Step::Applied(borrowed_phone::on_activation(
                        number,
                        &record,
                        key,
                        &self.policy.borrowed_phone,
                        now_us,
                    )),
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
                        .collect(),
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
                Step::Applied(payment_to_flagged::check(
                    account, None, fresh, key, policy, now_us,
                ))
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
                }
                return Ok(outcome);
            }
            Step::Late(raised) | Step::Applied(raised) => {
                let common = state.common_mut();
                let mut until = at;
                for Raised { alert, window_end } in raised {
                    common.remember_alert(&alert.alert_id, &alert.rule, window_end);
                    let json =
                        serde_json::value::to_raw_value(&alert).map_err(|e| e.to_string())?;
                    outcome.alerts.push(json);
                    until = until.max(window_end);
                }
                if !outcome.alerts.is_empty() && !outcome.late {
                    let sent = Sent {
                        at: until,
                        alerts: outcome.alerts.clone(),
                        listings: Vec::new(),
                    };
                    common.remember_sent(&delivery, sent);
                }
            }
        }
        self.settle(state, watermark);
        Ok(outcome)
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
        Step::Applied(alert.into_iter().collect())
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
        Step::Applied(raised)
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
                return Step::Late(self.warnings(account, key, incoming, &[], now_us));
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
        Step::Applied(raised)
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

    /// Forget, in place, what no event at or after `watermark` minus the lateness can
    /// reach (None: not known yet, nothing is).
    pub fn settle(&self, state: &mut SubjectState, watermark: Option<i64>) {
        let Some(watermark) = watermark else {
            return;
        };
        let kept = match state {
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
                let settled = watermark - self.policy.allowed_lateness;
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
        common.forget_suppressions_before(watermark - self.policy.allowed_lateness);
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
        return Some(Step::Late(Vec::new()));
    }
    common.observe(origin, record.at());
    history.add(record.clone());
    None
}
