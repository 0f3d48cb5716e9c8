"""`bulk_sim_opener`: one identity activating many SIM cards in a short time.

People who sell or rent out their identity open SIM after SIM, often at several carriers so
that no single carrier sees the pattern. Fires once per burst; the engine then watchlists
the identity.
"""

from datetime import datetime
from typing import Final

from duanka.detector.core.alerting import build_alert, human_duration, plural, short
from duanka.detector.core.bursts import find_burst
from duanka.detector.core.clock import duration_ms
from duanka.detector.core.policy import BulkSimOpenerPolicy
from duanka.detector.core.state import IdentityState, SimRecord
from duanka.schemas.alerts import Action, Alert

RULE: Final = "bulk_sim_opener"


def check(
    state: IdentityState,
    new: SimRecord,
    identity: str,
    policy: BulkSimOpenerPolicy,
    now: datetime,
) -> Alert | None:
    """Fire when a window (end - window, end] holding `new` has >= `min_activations`."""
    found = find_burst(
        state,
        RULE,
        new,
        state.sims,
        duration_ms(policy.window),
        lambda burst: len(burst) >= policy.min_activations,
        policy.min_activations,
    )
    if found is None:
        return None
    burst = found.records
    numbers = {r.msisdn: r.source for r in burst}
    carriers = set(numbers.values())
    return build_alert(
        rule=RULE,
        severity="high",
        subject=("identity", identity),
        trigger=found.trigger,
        window=(found.start, found.end),
        evidence=burst,
        distinct=len(numbers),
        actions=[
            *(Action(action="block_msisdn", target=m, institution=c) for m, c in numbers.items()),
            Action(action="deny_new_services", target=identity, institution=None),
        ],
        summary=(
            f"Identity {short(identity)} activated {len(burst)} SIM cards "
            f"({plural(len(numbers), 'number')} at {plural(len(carriers), 'carrier')}) within "
            f"{human_duration(policy.window)}; threshold {policy.min_activations}."
        ),
        detected_at=now,
    )
