"""`bulk_sim_opener`: one identity activating many SIM cards in a short time.

People who sell or rent out their identity open SIM after SIM, often at several carriers so
that no single carrier sees the pattern. Fires once per burst; the engine then watchlists
the identity.
"""

from datetime import datetime
from typing import Final

from schemas.alerts import Action, Alert
from services.detector.core.alerting import build_alert, human_duration, plural, short
from services.detector.core.bursts import candidate_triggers, first_crossing
from services.detector.core.clock import duration_ms
from services.detector.core.policy import BulkSimOpenerPolicy
from services.detector.core.state import IdentityState, SimRecord

RULE: Final = "bulk_sim_opener"


def check(
    state: IdentityState,
    new: SimRecord,
    identity: str,
    policy: BulkSimOpenerPolicy,
    now: datetime,
) -> Alert | None:
    """Fire when a window (end - window, end] holding `new` has >= `min_activations`."""
    window = duration_ms(policy.window)
    trigger = first_crossing(
        state,
        RULE,
        candidate_triggers(new, state.sims, window, new_is_trigger=True),
        window,
        lambda end: len(state.sims.within(end - window, end)) >= policy.min_activations,
    )
    if trigger is None:
        return None
    burst = state.sims.within(trigger.at - window, trigger.at)
    numbers = {r.msisdn: r.source for r in burst}
    carriers = set(numbers.values())
    return build_alert(
        rule=RULE,
        severity="high",
        subject=("identity", identity),
        trigger=trigger,
        window=(trigger.at - window, trigger.at),
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
