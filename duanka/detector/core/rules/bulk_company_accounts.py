"""`bulk_company_accounts`: one legal representative opening accounts for many companies.

Shell companies registered on a bought identity open corporate accounts that move large
sums without the limits of personal accounts.
"""

from datetime import datetime
from typing import Final

from duanka.detector.core.alerting import build_alert, human_duration, plural, short
from duanka.detector.core.bursts import find_burst
from duanka.detector.core.clock import duration_ms
from duanka.detector.core.history import History
from duanka.detector.core.policy import BulkCompanyAccountsPolicy
from duanka.detector.core.state import IdentityState, OpenRecord
from duanka.schemas.alerts import Action, Alert

RULE: Final = "bulk_company_accounts"


def check(
    state: IdentityState,
    new: OpenRecord,
    identity: str,
    policy: BulkCompanyAccountsPolicy,
    now: datetime,
) -> Alert | None:
    """Fire when a window holding `new` has corporate accounts of >= `min_companies`."""
    if new.account_kind != "corporate":
        return None
    found = find_burst(
        state,
        RULE,
        new,
        History([r for r in state.opens if r.account_kind == "corporate"]),
        duration_ms(policy.window),
        lambda burst: len(_companies(burst)) >= policy.min_companies,
        policy.min_companies,
    )
    if found is None:
        return None
    burst = found.records
    count = len(_companies(burst))
    return build_alert(
        rule=RULE,
        severity="high",
        subject=("identity", identity),
        trigger=found.trigger,
        window=(found.start, found.end),
        evidence=burst,
        distinct=count,
        actions=[Action(action="review", target=r.account, institution=r.source) for r in burst],
        summary=(
            f"Identity {short(identity)} opened corporate accounts for "
            f"{plural(count, 'company', 'companies')} within {human_duration(policy.window)}; "
            f"threshold {policy.min_companies}."
        ),
        detected_at=now,
    )


def _companies(opens: list[OpenRecord]) -> set[str | None]:
    return {r.company for r in opens}
