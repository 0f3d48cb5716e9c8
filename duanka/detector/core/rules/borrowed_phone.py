"""`borrowed_phone`: an account opened with a number somebody else activated.

Mule accounts are often registered with a phone number the gang controls, not the holder's
own: the number's latest activation (within the lookback) was by a different identity.
Fires on every such account opening.
"""

from datetime import datetime
from typing import Final

from duanka.detector.core.alerting import build_alert, human_duration, short
from duanka.detector.core.clock import duration_ms
from duanka.detector.core.policy import BorrowedPhonePolicy
from duanka.detector.core.state import MsisdnState, NumberActivation, NumberUse
from duanka.schemas.alerts import Action, Alert

RULE: Final = "borrowed_phone"


def on_account_open(
    state: MsisdnState, use: NumberUse, msisdn: str, policy: BorrowedPhonePolicy, now: datetime
) -> Alert | None:
    """Fire when the number's latest activation at or before the opening, within the
    lookback, was by another identity."""
    lookback = duration_ms(policy.lookback)
    activation = state.activations.latest_at_or_before(use.at)
    if activation is None or activation.at <= use.at - lookback:
        return None
    if activation.identity == use.identity:
        return None
    return _alert(use, activation, msisdn, policy, now)


def on_activation(
    state: MsisdnState,
    activation: NumberActivation,
    msisdn: str,
    policy: BorrowedPhonePolicy,
    now: datetime,
) -> list[Alert]:
    """An activation that arrives after account openings it precedes in event time: alert
    for each opening whose latest activation it now is, if the identities differ."""
    lookback = duration_ms(policy.lookback)
    alerts = []
    for use in state.uses.within(activation.at - 1, activation.at + lookback - 1):
        if state.activations.latest_at_or_before(use.at) != activation:
            continue
        if activation.identity != use.identity:
            alerts.append(_alert(use, activation, msisdn, policy, now))
    return alerts


def _alert(
    use: NumberUse,
    activation: NumberActivation,
    msisdn: str,
    policy: BorrowedPhonePolicy,
    now: datetime,
) -> Alert:
    return build_alert(
        rule=RULE,
        severity="medium",
        subject=("msisdn", msisdn),
        trigger=use,
        window=(activation.at, use.at),
        evidence=[activation, use],
        distinct=2,
        actions=[Action(action="review", target=use.account, institution=use.source)],
        summary=(
            f"Account {use.account} was opened at {use.source} by identity "
            f"{short(use.identity)} with number {msisdn}, last activated by identity "
            f"{short(activation.identity)} at {activation.source} "
            f"(lookback {human_duration(policy.lookback)})."
        ),
        detected_at=now,
    )
