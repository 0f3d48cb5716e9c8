"""`shared_device`: many identities activating SIMs or opening accounts on one device.

A SIM farm or a registration workshop puts dozens of identities through one modem or
handset. Fires once per burst; every number in the evidence is blocked.
"""

from datetime import datetime
from typing import Final

from schemas.alerts import Action, Alert
from services.detector.core.alerting import build_alert, human_duration, short
from services.detector.core.bursts import candidate_triggers, first_crossing
from services.detector.core.clock import duration_ms
from services.detector.core.policy import SharedDevicePolicy
from services.detector.core.state import DeviceState, DeviceUse

RULE: Final = "shared_device"


def check(
    state: DeviceState, new: DeviceUse, device: str, policy: SharedDevicePolicy, now: datetime
) -> Alert | None:
    """Fire when a window holding `new` has >= `min_identities` distinct identities."""
    window = duration_ms(policy.window)

    def identities(end: int) -> set[str]:
        return {r.identity for r in state.uses.within(end - window, end)}

    trigger = first_crossing(
        state,
        RULE,
        candidate_triggers(new, state.uses, window, new_is_trigger=True),
        window,
        lambda end: len(identities(end)) >= policy.min_identities,
    )
    if trigger is None:
        return None
    burst = state.uses.within(trigger.at - window, trigger.at)
    people = identities(trigger.at)
    numbers = {r.msisdn: r.carrier for r in burst if r.msisdn is not None}
    return build_alert(
        rule=RULE,
        severity="high",
        subject=("device", device),
        trigger=trigger,
        window=(trigger.at - window, trigger.at),
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
