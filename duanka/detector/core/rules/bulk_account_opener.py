"""`bulk_account_opener`: one identity opening many personal or payment accounts.

The "card farmer" opens accounts at several banks and payment institutions and rents them
out to launder money. Corporate accounts are counted by `bulk_company_accounts` instead.
"""

from datetime import datetime
from typing import Final

from duanka.detector.core.alerting import build_alert, human_duration, plural, short
from duanka.detector.core.bursts import find_burst
from duanka.detector.core.clock import duration_ms
from duanka.detector.core.history import History
from duanka.detector.core.policy import BulkAccountOpenerPolicy
from duanka.detector.core.state import IdentityState, OpenRecord
from duanka.schemas.alerts import Action, Alert

RULE: Final = "bulk_account_opener"
COUNTED_KINDS: Final = ("personal", "payment")


def check(
    state: IdentityState,
    new: OpenRecord,
    identity: str,
    policy: BulkAccountOpenerPolicy,
    now: datetime,
) -> Alert | None:
    """Fire when a window holding `new` has >= `min_accounts` personal or payment opens."""
    if new.account_kind not in COUNTED_KINDS:
        return None
    found = find_burst(
        state,
        RULE,
        new,
        History([r for r in state.opens if r.account_kind in COUNTED_KINDS]),
        duration_ms(policy.window),
        lambda burst: len(burst) >= policy.min_accounts,
        policy.min_accounts,
    )
    if found is None:
        return None
    burst = found.records
    institutions = {r.source for r in burst}
    return build_alert(
        rule=RULE,
        severity="high",
        subject=("identity", identity),
        trigger=found.trigger,
        window=(found.start, found.end),
        evidence=burst,
        distinct=len(institutions),
        actions=[
            *(
                Action(action="freeze_account", target=r.account, institution=r.source)
                for r in burst
            ),
            Action(action="deny_new_services", target=identity, institution=None),
        ],
        summary=(
            f"Identity {short(identity)} opened {plural(len(burst), 'personal or payment account')}"
            f" at {plural(len(institutions), 'institution')} within "
            f"{human_duration(policy.window)}; threshold {policy.min_accounts}."
        ),
        detected_at=now,
    )
