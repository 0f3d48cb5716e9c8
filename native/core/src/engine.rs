//! The detection engine (`duanka/detector/core/engine.py`): (subject state, event) -> (new
//! state, alerts). It owns the order of work for an event at one subject: idempotency,
//! lateness, recording, the subject's rules, then forgetting what no window reaches.
//! Built so far: the device subject.

use serde_json::value::RawValue;

use crate::alerting::Raised;
use crate::rules::shared_device;
use crate::state::{DeviceState, DeviceUse, Sent};
use crate::timestamp::epoch_ms;

/// The policy's numbers the engine reads.
#[derive(Clone, Debug)]
pub struct Policy {
    pub allowed_lateness_ms: i64,
    pub shared_device: shared_device::Policy,
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

/// An event at a device subject, in the compact form a bundle carries
/// (`duanka/detector/core/compact.py`): an activation's or an opening's field values.
pub enum DeviceEvent {
    Sim(Vec<Option<String>>),
    Open(Vec<Option<String>>),
}

impl DeviceEvent {
    /// The event of `stream` ("sim" or "open") whose compact form, as JSON, is `values`.
    pub fn from_compact(stream: &str, values: &[u8]) -> Result<DeviceEvent, String> {
        let values: Vec<Option<String>> =
            serde_json::from_slice(values).map_err(|e| format!("not a compact event: {e}"))?;
        match stream {
            "sim" => Ok(DeviceEvent::Sim(values)),
            "open" => Ok(DeviceEvent::Open(values)),
            _ => Err(format!("no device stream {stream}")),
        }
    }

    /// The use of the device it records; None if its values are not an event's.
    fn record(&self) -> Option<DeviceUse> {
        let field = |values: &Vec<Option<String>>, i: usize| values.get(i).cloned().flatten();
        let (values, sim) = match self {
            DeviceEvent::Sim(values) => (values, true),
            DeviceEvent::Open(values) => (values, false),
        };
        let source = field(values, 2)?;
        Some(DeviceUse {
            at: epoch_ms(&field(values, 1)?)?,
            event_id: field(values, 0)?,
            identity: field(values, 3)?,
            msisdn: field(values, if sim { 4 } else { 7 }),
            carrier: sim.then(|| source.clone()),
            account: if sim { None } else { field(values, 4) },
            outlet: if sim { field(values, 7) } else { None },
            company: if sim { None } else { field(values, 9) },
            source,
        })
    }
}

pub struct Engine {
    policy: Policy,
    /// How far behind the watermark a device's records are kept: its window and lateness.
    device_kept: i64,
}

impl Engine {
    pub fn new(policy: Policy) -> Engine {
        let device_kept = policy.shared_device.window_ms + policy.allowed_lateness_ms;
        Engine {
            policy,
            device_kept,
        }
    }

    /// Apply an event to the device `device` whose state is `state`, read from `origin`;
    /// `watermark` is how far the subject's input has surely come (None: not known).
    /// Err names what is wrong with an event that is not one.
    pub fn apply_device(
        &self,
        state: &mut DeviceState,
        device: &str,
        event: &DeviceEvent,
        origin: &str,
        watermark: Option<i64>,
        now_us: i64,
    ) -> Result<Outcome, String> {
        let record = event
            .record()
            .ok_or_else(|| "not a compact device event".to_owned())?;
        let key = format!("{}/{}", record.source, record.event_id);
        if state.uses.has(&record.source, &record.event_id) {
            let alerts = state
                .common
                .sent_by(&key)
                .map(|sent| sent.alerts.clone())
                .unwrap_or_default();
            return Ok(Outcome {
                alerts,
                duplicate: true,
                late: false,
            });
        }
        let lateness = self.policy.allowed_lateness_ms;
        if state.common.is_late(origin, record.at, lateness) {
            self.settle(state, watermark);
            return Ok(Outcome {
                late: true,
                ..Outcome::default()
            });
        }
        state.common.observe(origin, record.at);
        let at = record.at;
        state.uses.add(record.clone());
        let policy = &self.policy.shared_device;
        let alert = shared_device::check(
            &mut state.common,
            &state.uses,
            &record,
            device,
            policy,
            now_us,
        );
        let mut outcome = Outcome::default();
        if let Some(Raised { alert, window_end }) = alert {
            state
                .common
                .remember_alert(&alert.alert_id, &alert.rule, window_end);
            let json = serde_json::value::to_raw_value(&alert).map_err(|e| e.to_string())?;
            outcome.alerts.push(json.clone());
            let sent = Sent {
                at: at.max(window_end),
                alerts: vec![json],
                listings: Vec::new(),
            };
            state.common.remember_sent(&key, sent);
        }
        self.settle(state, watermark);
        Ok(outcome)
    }

    /// Forget what no event at or after `watermark` minus the lateness can reach.
    pub fn settle(&self, state: &mut DeviceState, watermark: Option<i64>) {
        let Some(watermark) = watermark else {
            return;
        };
        let horizon = watermark - self.device_kept;
        if state.uses.records.first().is_some_and(|r| r.at <= horizon) {
            state.uses.forget_before(horizon);
        }
        let settled = watermark - self.policy.allowed_lateness_ms;
        state.common.forget_suppressions_before(settled);
        state.common.forget_sent_before(horizon);
    }
}
