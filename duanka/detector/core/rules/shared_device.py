"""`shared_device`: many identities activating SIMs or opening accounts on one device.

A SIM farm or a registration workshop puts dozens of identities through one modem or
handset. Fires once per burst; every number in the evidence is blocked.
"""

from datetime import datetime
from typing import Final

from duanka.detector.core.alerting import build_alert, human_duration, short
from duanka.detector.core.bursts import find_burst
from duanka.detector.core.clock import duration_ms
from duanka.detector.core.policy import SharedDevicePolicy
from duanka.detector.core.state import DeviceState, DeviceUse
from duanka.schemas.alerts import Action, Alert

RULE: Final = "shared_device"


def check(
    state: DeviceState, new: DeviceUse, device: str, policy: SharedDevicePolicy, now: datetime
) -> Alert | None:
    """Fire when a window holding `new` has >= `min_identities` distinct identities."""
    found = find_burst(
        state,
        RULE,
        new,
        state.uses,
        duration_ms(policy.window),
        lambda burst: len(_identities(burst)) >= policy.min_identities,
        policy.min_identities,
    )
    if found is None:
        return None
    burst = found.records
    people = _identities(burst)
    numbers = {r.msisdn: r.carrier for r in burst if r.msisdn is not None}
    return build_alert(
        rule=RULE,
        severity="high",
        subject=("device", device),
        trigger=found.trigger,
        window=(found.start, found.end),
        evidence=burst,
        distinct=len(people),
        actions=[
            Action(action="review", target=device, institution=None),
            *(Action(action="block_msisdn", target=m, institution=c) for m, c in numbers.items()),
        ],
        summary=(
            f"Device {short(device)} was used by {len(people)} identities for "
            f"{len(burst)} activations or account openings within "
            f"{human_duration(policy.window)}; threshold {policy.min_identities}."
        ),
        detected_at=now,
    )


def _identities(uses: list[DeviceUse]) -> set[str]:
    return {r.identity for r in uses}
