"""`mule_fan_in`: many people paying into one personal account.

A collector account gathers money from many victims at once. Corporate accounts are exempt:
a shop's takings look the same and are not mule traffic.
"""

from datetime import datetime
from typing import Final

from duanka.detector.core.policy import MuleFanPolicy
from duanka.detector.core.rules import fan
from duanka.detector.core.state import AccountState, Leg
from duanka.schemas.alerts import Alert

RULE: Final = "mule_fan_in"


def check(
    state: AccountState, new: Leg, account: str, policy: MuleFanPolicy, now: datetime
) -> Alert | None:
    """Fire on an incoming transfer that brings the distinct senders to the threshold."""
    return fan.check(RULE, state, state.incoming, new, account, policy, now)
