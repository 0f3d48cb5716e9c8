"""`mule_fan_out`: one personal account paying many others.

Laundered money is scattered over many cash-out accounts to stay under reporting limits.
Corporate accounts are exempt: payroll looks the same.
"""

from datetime import datetime
from typing import Final

from duanka.detector.core.policy import MuleFanPolicy
from duanka.detector.core.rules import fan
from duanka.detector.core.state import AccountState, Leg
from duanka.schemas.alerts import Alert

RULE: Final = "mule_fan_out"


def check(
    state: AccountState, new: Leg, account: str, policy: MuleFanPolicy, now: datetime
) -> Alert | None:
    """Fire on an outgoing transfer that brings the distinct receivers to the threshold."""
    return fan.check(RULE, state, state.outgoing, new, account, policy, now)
