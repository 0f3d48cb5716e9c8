"""`bulk_sim_opener`: one identity activating many SIM cards in a short time.

People who sell or rent out their identity open SIM after SIM, often at several carriers so
that no single carrier sees the pattern. Fires once per burst; the identity is then
watchlisted by the engine.
"""

from datetime import datetime

from schemas.alerts import Action, Alert, Subject
from schemas.events import SimActivation
from services.detector.core.alerting import build_alert, human_duration, short
from services.detector.core.clock import duration_ms
from services.detector.core.policy import BulkSimOpenerPolicy
from services.detector.core.state import IdentityState

RULE = "bulk_sim_opener"


def check(
    state: IdentityState,
    event: SimActivation,
    at: int,
    policy: BulkSimOpenerPolicy,
    now: datetime,
) -> Alert | None:
    """Fire when the identity has >= `min_activations` activations within (at - window, at].

    `state` already holds `event`. Firing suppresses the rule for the identity until
    at + window.
    """
    window = duration_ms(policy.window)
    if state.suppressed(RULE, at):
        return None
    burst = state.activations_within(at - window, at)
    if len(burst) < policy.min_activations:
        return None
    state.suppress(RULE, at, at + window)

    numbers = {a.msisdn: a.source for a in burst}
    carriers = set(numbers.values())
    return build_alert(
        rule=RULE,
        severity="high",
        subject=Subject(kind="identity", id=event.identity),
        trigger=event,
        window=(at - window, at),
        event_ids=[a.event_id for a in burst],
        count=len(burst),
        distinct=len(numbers),
        actions=[
            *(
                Action(action="block_msisdn", target=msisdn, institution=carrier)
                for msisdn, carrier in numbers.items()
            ),
            Action(action="deny_new_services", target=event.identity, institution=None),
        ],
        summary=(
            f"Identity {short(event.identity)} activated {len(burst)} SIM cards "
            f"({len(numbers)} numbers at {len(carriers)} "
            f"carrier{'s' if len(carriers) != 1 else ''}) within "
            f"{human_duration(policy.window)}; threshold {policy.min_activations}."
        ),
        detected_at=now,
    )
