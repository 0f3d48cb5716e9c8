"""`payment_to_flagged`: a payment into an account a mule rule has flagged.

Whoever pays a mule account is probably a victim, and the bank that holds the sender's
account can call them before they pay again. A mule rule's alert flags the account from its
window's end for `flag_ttl`, and an institution's confirmation that an alert about the
account was fraud flags it from when it was decided; every incoming payment in that time is
warned to the sender's institution, naming the latest flag.
"""

from datetime import datetime
from typing import Final

from duanka.detector.core.alerting import build_alert, human_age, yuan
from duanka.detector.core.clock import duration_ms, to_ms
from duanka.detector.core.intake import Confirmation
from duanka.detector.core.policy import PaymentToFlaggedPolicy
from duanka.detector.core.state import AccountState, Flag, Leg
from duanka.schemas.alerts import Action, Alert

RULE: Final = "payment_to_flagged"
FLAGGING: Final = frozenset(
    {
        "mule_pass_through",
        "mule_fan_in",
        "mule_fan_out",
        "new_account_velocity",
        "layering_cycle",
        "scatter_gather",
    }
)
"""The rules whose alerts flag their account."""


def flags_raised(raised: list[Alert]) -> list[Flag]:
    """The flags of the mule alerts among `raised`: from each one's window end."""
    return [
        Flag(to_ms(a.window.end), a.alert_id, a.rule, a.evidence.holder)
        for a in raised
        if a.rule in FLAGGING
    ]


def flag_confirmed(confirmation: Confirmation) -> Flag:
    """The flag of an institution's confirmation: from when it was decided."""
    by = f"{confirmation.rule} confirmed by {confirmation.institution}"
    return Flag(to_ms(confirmation.decided_at), confirmation.alert_id, by, confirmation.holder)


def check(
    state: AccountState,
    new: Leg | None,
    fresh: list[Flag],
    account: str,
    policy: PaymentToFlaggedPolicy,
    now: datetime,
) -> list[Alert]:
    """Flag the account with `fresh` flags, then warn each incoming payment that a flag
    now reaches and none reached before: `new` (an incoming leg just applied, or None) and
    those recorded already that a new flag reaches (its event came after them, or late, or
    it was delivered again), so the order events arrive in does not matter."""
    ttl = duration_ms(policy.flag_ttl)
    if not fresh and (new is None or not state.flags):
        return []
    reached = {new} if new is not None else set()
    if fresh:
        before = list(state.flags)
        for flag in fresh:
            state.flag(flag)
        for flag in fresh:
            reached.update(
                leg
                for leg in state.incoming.within(flag.at - 1, flag.at + ttl - 1)
                if flag_at(before, leg.at, ttl) is None
            )
    warnings = []
    for leg in sorted(reached):
        latest = flag_at(state.flags, leg.at, ttl)
        if latest is not None:
            warnings.append(_warning(state, leg, latest, account, policy, now))
    return warnings


def flag_at(flags: list[Flag], at: int, ttl: int) -> Flag | None:
    """The latest of `flags` (in time order) in force at `at`: raised in (at - ttl, at]."""
    for flag in reversed(flags):
        if flag.at <= at:
            return flag if flag.at > at - ttl else None
    return None


def _warning(
    state: AccountState,
    leg: Leg,
    flag: Flag,
    account: str,
    policy: PaymentToFlaggedPolicy,
    now: datetime,
) -> Alert:
    ttl = duration_ms(policy.flag_ttl)
    paid = f"paid {yuan(leg.amount_minor)}" if leg.counted else "made a payment"
    since = _since(leg.at - flag.at)
    return build_alert(
        rule=RULE,
        severity="high",
        subject=("account", account),
        trigger=leg,
        window=(leg.at - ttl, leg.at),
        evidence=[leg],
        distinct=1,
        amount_minor=leg.amount_minor if leg.counted else 0,
        actions=[
            Action(
                action="warn_customer",
                target=leg.counterparty,
                institution=leg.counterparty_institution,
            )
        ],
        summary=(
            f"Account {leg.counterparty} {paid} into account {account}, flagged by "
            f"{flag.rule} {since}: warn the customer before they pay again."
        ),
        detected_at=now,
        holder=flag.holder,
        flag_alert_id=flag.alert_id,
    )


def _since(elapsed: int) -> str:
    if elapsed == 0:
        return "at this payment"
    if elapsed < 3_600_000:
        return "less than an hour before"
    return f"{human_age(elapsed)} before"
