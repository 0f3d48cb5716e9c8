"""`mule_pass_through`: money that arrives and leaves again within the hour.

A mule account's job is to receive a victim's money and pass it on before anyone can freeze
it: at an outgoing transfer, the incoming sum of the last hour is large and most of it has
already left again.
"""

from datetime import datetime
from typing import Final

from duanka.detector.core.alerting import build_alert, human_duration, yuan
from duanka.detector.core.bursts import candidate_triggers, first_crossing
from duanka.detector.core.clock import duration_ms
from duanka.detector.core.policy import MulePassThroughPolicy
from duanka.detector.core.state import AccountState, Leg
from duanka.schemas.alerts import Action, Alert

RULE: Final = "mule_pass_through"


def _sum(legs: list[Leg]) -> int:
    return sum(leg.amount_minor for leg in legs if leg.counted)


def check(
    state: AccountState,
    new: Leg,
    outgoing: bool,
    account: str,
    policy: MulePassThroughPolicy,
    now: datetime,
) -> Alert | None:
    """At an outgoing transfer at t (the new one, or a later one that a late leg completes):
    incoming within (t - window, t] >= the minimum, outgoing >= the ratio of it."""
    if not state.incoming or not state.outgoing:
        return None  # the threshold needs money in and some of it out
    window = duration_ms(policy.window)

    def sums(end: int) -> tuple[int, int]:
        start = end - window
        return _sum(state.incoming.within(start, end)), _sum(state.outgoing.within(start, end))

    def crossed(end: int) -> bool:
        incoming, outgoing_sum = sums(end)
        return (
            incoming >= policy.min_incoming_minor
            and outgoing_sum >= policy.min_outgoing_ratio * incoming
        )

    candidates = candidate_triggers(new, state.outgoing, window, new_is_trigger=outgoing)
    trigger = first_crossing(state, RULE, candidates, window, crossed)
    if trigger is None:
        return None
    start, end = trigger.at - window, trigger.at
    legs = sorted([*state.incoming.within(start, end), *state.outgoing.within(start, end)])
    incoming, outgoing_sum = sums(end)
    institution = trigger.institution if isinstance(trigger, Leg) else None
    return build_alert(
        rule=RULE,
        severity="high",
        subject=("account", account),
        trigger=trigger,
        window=(start, end),
        evidence=legs,
        distinct=len({leg.counterparty for leg in legs}),
        amount_minor=incoming,
        actions=[Action(action="freeze_account", target=account, institution=institution)],
        summary=(
            f"Account {account} received {yuan(incoming)} and sent on {yuan(outgoing_sum)} "
            f"({outgoing_sum / incoming:.0%}) within {human_duration(policy.window)}; "
            f"thresholds {yuan(policy.min_incoming_minor)} in and "
            f"{policy.min_outgoing_ratio:.0%} out."
        ),
        detected_at=now,
        holder=state.holder(),
    )
