"""`new_account_velocity`: a freshly opened account that suddenly receives a lot.

Rented accounts are put to work at once: within days of opening they receive many transfers
or a large sum.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Final

from duanka.detector.core.alerting import build_alert, human_age, human_duration, yuan
from duanka.detector.core.bursts import candidate_triggers, first_crossing
from duanka.detector.core.clock import duration_ms
from duanka.detector.core.history import Timed
from duanka.detector.core.policy import NewAccountVelocityPolicy
from duanka.detector.core.state import AccountState, Leg, Opening
from duanka.schemas.alerts import Action, Alert

RULE: Final = "new_account_velocity"


def check(
    state: AccountState,
    new: Leg | Opening,
    account: str,
    policy: NewAccountVelocityPolicy,
    now: datetime,
) -> Alert | None:
    """At an incoming transfer at t, for an account opened at most `max_account_age` before
    t: >= `min_transfers` incoming, or >= `min_amount_minor` in sum, within the window.

    An opening that arrives after the transfers checks each of them in turn."""
    opening = state.opening
    if opening is None:
        return None
    window = duration_ms(policy.window)
    max_age = duration_ms(policy.max_account_age)

    def crossed(end: int) -> bool:
        if not opening.at <= end <= opening.at + max_age:
            return False
        legs = state.incoming.within(end - window, end)
        return len(legs) >= policy.min_transfers or (
            sum(leg.amount_minor for leg in legs if leg.counted) >= policy.min_amount_minor
        )

    candidates: Iterator[Timed]
    if isinstance(new, Opening):
        candidates = iter(state.incoming.within(new.at - 1, new.at + max_age))
    else:
        candidates = candidate_triggers(new, state.incoming, window, new_is_trigger=True)
    trigger = first_crossing(state, RULE, candidates, window, crossed)
    if trigger is None:
        return None
    legs = state.incoming.within(trigger.at - window, trigger.at)
    total = sum(leg.amount_minor for leg in legs if leg.counted)
    age = human_age(trigger.at - opening.at)
    institution = trigger.institution if isinstance(trigger, Leg) else opening.source
    return build_alert(
        rule=RULE,
        severity="high",
        subject=("account", account),
        trigger=trigger,
        window=(trigger.at - window, trigger.at),
        evidence=legs,
        distinct=len({leg.counterparty for leg in legs}),
        amount_minor=total,
        actions=[Action(action="freeze_account", target=account, institution=institution)],
        summary=(
            f"Account {account}, opened {age} earlier as {opening.account_kind}, received "
            f"{len(legs)} transfers totalling {yuan(total)} within "
            f"{human_duration(policy.window)}; thresholds {policy.min_transfers} transfers or "
            f"{yuan(policy.min_amount_minor)}."
        ),
        detected_at=now,
        holder=state.holder(),
    )
