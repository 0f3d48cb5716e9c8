//! The detection engine (`duanka/detector/core/engine.py`): (subject state, event) -> (new
//! state, alerts). It owns the order of work for an event at one subject: idempotency,
//! lateness, recording, the subject's rules, then forgetting what no window reaches.
//! Built so far: the device and number subjects.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::alerting::Raised;
use crate::history::{History, Timed};
use crate::rules::{borrowed_phone, shared_device};
use crate::state::{Common, DeviceUse, NumberActivation, NumberUse, Sent, SubjectState};
use crate::timestamp::epoch_ms;

/// The policy's numbers the engine reads, from `Policy.in_ms` (every duration in
/// milliseconds; the rest of the policy is not read here).
#[derive(Clone, Debug, Deserialize)]
pub struct Policy {
    pub allowed_lateness: i64,
    pub shared_device: shared_device::Policy,
    pub borrowed_phone: borrowed_phone::Policy,
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

/// An event at a subject, from the compact form a bundle carries
/// (`duanka/detector/core/compact.py`).
pub enum Event {
    Activation(Activation),
    Opening(Opening),
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
                    _,
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
                    msisdn,
                    device,
                    company,
                }))
            }
            _ => Err(format!("no stream {stream}")),
        }
    }

    fn names(&self) -> (i64, &str, &str) {
        match self {
            Event::Activation(e) => (e.at, &e.source, &e.event_id),
            Event::Opening(e) => (e.at, &e.source, &e.event_id),
        }
    }
}

/// How an event went at its subject.
enum Step {
    Duplicate,
    Late,
    Applied(Vec<Raised>),
}

pub struct Engine {
    policy: Policy,
    /// How far behind the watermark a device's uses are kept: its window and lateness.
    device_kept: i64,
    /// How far behind the watermark a number's records are kept: its lookback and lateness.
    msisdn_kept: i64,
}

impl Engine {
    pub fn new(policy: Policy) -> Engine {
        let lateness = policy.allowed_lateness;
        Engine {
            device_kept: policy.shared_device.window + lateness,
            msisdn_kept: policy.borrowed_phone.lookback + lateness,
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
        let (at, source, event_id) = event.names();
        let delivery = format!("{source}/{event_id}");
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
        };
        let mut outcome = Outcome::default();
        match step {
            Step::Duplicate => {
                outcome.duplicate = true;
                if let Some(sent) = state.common().sent_by(&delivery) {
                    outcome.alerts.clone_from(&sent.alerts);
                }
                return Ok(outcome);
            }
            Step::Late => outcome.late = true,
            Step::Applied(raised) => {
                let common = state.common_mut();
                let mut until = at;
                for Raised { alert, window_end } in raised {
                    common.remember_alert(&alert.alert_id, &alert.rule, window_end);
                    let json =
                        serde_json::value::to_raw_value(&alert).map_err(|e| e.to_string())?;
                    outcome.alerts.push(json);
                    until = until.max(window_end);
                }
                if !outcome.alerts.is_empty() {
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
        return Some(Step::Late);
    }
    common.observe(origin, record.at());
    history.add(record.clone());
    None
}
