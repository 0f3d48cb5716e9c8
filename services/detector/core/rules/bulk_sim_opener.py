"""`bulk_sim_opener`: one identity activating many SIM cards in a short time.

People who sell or rent out their identity open SIM after SIM, often at several carriers so
that no single carrier sees the pattern. Fires once per burst; the identity is then
watchlisted by the engine.
"""

from datetime import datetime
from typing import Final

from schemas.alerts import Action, Alert, Subject
from schemas.events import SimActivation
from services.detector.core.alerting import build_alert, human_duration, short
from services.detector.core.clock import duration_ms
from services.detector.core.policy import BulkSimOpenerPolicy
from services.detector.core.state import Activation, IdentityState

RULE: Final = "bulk_sim_opener"


def check(
    state: IdentityState,
    event: SimActivation,
    at: int,
    policy: BulkSimOpenerPolicy,
    now: datetime,
) -> Alert | None:
    """Fire when a window (end - window, end] holding `event` has >= `min_activations`.

    `state` already holds `event`, at event time `at`. In order, the only such window that
    can newly cross the threshold ends at `at`; an event that arrives out of order can also
    complete a window ending at a later activation, so those are checked too, earliest first.
    Firing suppresses the rule for the identity from the window's end for one window.
    """
    window = duration_ms(policy.window)
    later_ends = (a.at for a in state.activations_within(at, at + window - 1))
    for end in dict.fromkeys((at, *later_ends)):
        if state.suppressed(RULE, end):
            continue
        burst = state.activations_within(end - window, end)
        if len(burst) >= policy.min_activations:
            state.suppress(RULE, end, end + window)
            return _alert(event, burst, (end - window, end), policy, now)
    return None


def _alert(
    event: SimActivation,
    burst: list[Activation],
    window: tuple[int, int],
    policy: BulkSimOpenerPolicy,
    now: datetime,
) -> Alert:

    numbers = {a.msisdn: a.source for a in burst}
    carriers = set(numbers.values())
    return build_alert(
        rule=RULE,
        severity="high",
        subject=Subject(kind="identity", id=event.identity),
        trigger=event,
        window=window,
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
