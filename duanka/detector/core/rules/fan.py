"""Shared by `mule_fan_in` and `mule_fan_out`: many distinct counterparties in a window,
for an account not opened as corporate (merchants' takings are not mule traffic)."""

from datetime import datetime

from duanka.detector.core.alerting import build_alert, human_duration
from duanka.detector.core.bursts import find_burst
from duanka.detector.core.clock import duration_ms
from duanka.detector.core.history import History
from duanka.detector.core.policy import MuleFanPolicy
from duanka.detector.core.state import AccountState, Leg
from duanka.schemas.alerts import Action, Alert, RuleName


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
    found = find_burst(
        state,
        rule,
        new,
        legs,
        duration_ms(policy.window),
        lambda burst: len(_counterparties(burst)) >= policy.min_counterparties,
        policy.min_counterparties,
    )
    if found is None:
        return None
    burst = found.records
    count = len(_counterparties(burst))
    direction = "senders" if rule == "mule_fan_in" else "receivers"
    institution = found.trigger.institution if isinstance(found.trigger, Leg) else None
    return build_alert(
        rule=rule,
        severity="medium",
        subject=("account", account),
        trigger=found.trigger,
        window=(found.start, found.end),
        evidence=burst,
        distinct=count,
        amount_minor=sum(leg.amount_minor for leg in burst if leg.counted),
        actions=[Action(action="review", target=account, institution=institution)],
        summary=(
            f"Account {account} had {count} distinct {direction} in {len(burst)} transfers "
            f"within {human_duration(policy.window)}; threshold {policy.min_counterparties}."
        ),
        detected_at=now,
        holder=state.holder(),
    )


def _counterparties(legs: list[Leg]) -> set[str]:
    return {leg.counterparty for leg in legs}
