"""`mule_fan_in`: many people paying into one personal account.

A collector account gathers money from many victims at once. Corporate accounts are exempt:
a shop's takings look the same and are not mule traffic.
"""

from datetime import datetime
from typing import Final

from schemas.alerts import Alert
from services.detector.core.policy import MuleFanPolicy
from services.detector.core.rules import fan
from services.detector.core.state import AccountState, Leg

RULE: Final = "mule_fan_in"


def check(
    state: AccountState, new: Leg, account: str, policy: MuleFanPolicy, now: datetime
) -> Alert | None:
    """Fire on an incoming transfer that brings the distinct senders to the threshold."""
    return fan.check(RULE, state, state.incoming, new, account, policy, now)
