"""Shared by `mule_fan_in` and `mule_fan_out`: many distinct counterparties in a window,
for an account not opened as corporate (merchants' takings are not mule traffic)."""

from datetime import datetime

from schemas.alerts import Action, Alert, RuleName
from services.detector.core.alerting import build_alert, human_duration
from services.detector.core.bursts import candidate_triggers, first_crossing
from services.detector.core.clock import duration_ms
from services.detector.core.history import History
from services.detector.core.policy import MuleFanPolicy
from services.detector.core.state import AccountState, Leg


def check(
    rule: RuleName,
    state: AccountState,
    legs: History[Leg],
    new: Leg,
    account: str,
    policy: MuleFanPolicy,
    now: datetime,
) -> Alert | None:
    """Fire when a window holding `new` has legs with >= `min_counterparties` distinct
    counterparties."""
    if state.opening is not None and state.opening.account_kind == "corporate":
        return None
    window = duration_ms(policy.window)

    def counterparties(end: int) -> set[str]:
        return {leg.counterparty for leg in legs.within(end - window, end)}

    trigger = first_crossing(
        state,
        rule,
        candidate_triggers(new, legs, window, new_is_trigger=True),
        window,
        lambda end: len(counterparties(end)) >= policy.min_counterparties,
    )
    if trigger is None:
        return None
    burst = legs.within(trigger.at - window, trigger.at)
    count = len(counterparties(trigger.at))
    direction = "senders" if rule == "mule_fan_in" else "receivers"
    institution = trigger.institution if isinstance(trigger, Leg) else None
    return build_alert(
        rule=rule,
        severity="medium",
        subject=("account", account),
        trigger=trigger,
        window=(trigger.at - window, trigger.at),
        evidence=burst,
        distinct=count,
        amount_minor=sum(leg.amount_minor for leg in burst if leg.counted),
        actions=[Action(action="review", target=account, institution=institution)],
        summary=(
            f"Account {account} had {count} distinct {direction} in {len(burst)} transfers "
            f"within {human_duration(policy.window)}; threshold {policy.min_counterparties}."
        ),
        detected_at=now,
    )
