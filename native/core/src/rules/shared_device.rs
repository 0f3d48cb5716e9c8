//! `shared_device` (`duanka/detector/core/rules/shared_device.py`): many identities
//! activating SIMs or opening accounts on one device.

use std::collections::HashSet;

use crate::alerting::{build_alert, human_duration, short, Action, Draft, Evident, Raised};
use crate::bursts::find_burst;
use crate::history::History;
use crate::state::{Common, DeviceUse};

pub const RULE: &str = "shared_device";

/// The rule's numbers (`SharedDevicePolicy`).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Policy {
    pub min_identities: usize,
    /// Milliseconds.
    pub window: i64,
}

/// Fire when a window holding `new` has at least `min_identities` distinct identities.
pub fn check(
    common: &mut Common,
    uses: &History<DeviceUse>,
    new: &DeviceUse,
    device: &str,
    policy: &Policy,
    now_us: i64,
) -> Option<Raised> {
    let crossed = |burst: &[DeviceUse]| identities(burst) >= policy.min_identities;
    let found = find_burst(
        common,
        RULE,
        new,
        uses,
        policy.window,
        crossed,
        policy.min_identities,
    )?;
    let burst = found.records;
    let people = identities(burst);
    let mut numbers: Vec<(&str, Option<&str>)> = Vec::new();
    for record in burst {
        if let Some(msisdn) = record.msisdn.as_deref() {
            let carrier = record.carrier.as_deref();
            match numbers.iter_mut().find(|(m, _)| *m == msisdn) {
                Some(number) => number.1 = carrier,
                None => numbers.push((msisdn, carrier)),
            }
        }
    }
    let mut actions = vec![Action::new("review", device, None)];
    actions.extend(
        numbers
            .into_iter()
            .map(|(msisdn, carrier)| Action::new("block_msisdn", msisdn, carrier)),
    );
    let summary = format!(
        "Device {} was used by {} identities for {} activations or account openings within {}; \
         threshold {}.",
        short(device),
        people,
        burst.len(),
        human_duration(policy.window),
        policy.min_identities
    );
    let draft = Draft {
        distinct: people,
        actions,
        summary,
        ..Draft::new(
            RULE,
            "high",
            ("device", device),
            (found.start, found.end),
            now_us,
        )
    };
    let evidence: Vec<&dyn Evident> = burst.iter().map(|r| r as &dyn Evident).collect();
    Some(build_alert(draft, found.trigger, &evidence))
}

fn identities(uses: &[DeviceUse]) -> usize {
    uses.iter()
        .map(|r| r.identity.as_str())
        .collect::<HashSet<_>>()
        .len()
}
