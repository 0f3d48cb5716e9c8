"""`watchlisted_identity`: a barred person trying to open a new service.

Authorities suspend people caught selling cards (and duanka lists bulk openers itself); any
activation or account opening by them while listed is blocked at once. Fires on every such
event.
"""

from datetime import datetime
from typing import Final

from duanka.detector.core.alerting import build_alert, short
from duanka.detector.core.clock import from_ms
from duanka.detector.core.state import Listing, OpenRecord, SimRecord
from duanka.schemas.alerts import Action, Alert

RULE: Final = "watchlisted_identity"


def check(
    listing: Listing | None, record: SimRecord | OpenRecord, identity: str, now: datetime
) -> Alert | None:
    """Fire when the identity's listing is in force at the record's event time."""
    if listing is None or not listing.covers(record.at):
        return None
    if isinstance(record, SimRecord):
        blocked = Action(action="block_msisdn", target=record.msisdn, institution=record.source)
        what = f"activated SIM {record.msisdn}"
    else:
        blocked = Action(action="freeze_account", target=record.account, institution=record.source)
        what = f"opened account {record.account}"
    return build_alert(
        rule=RULE,
        severity="critical",
        subject=("identity", identity),
        trigger=record,
        window=(listing.listed_at, record.at),
        evidence=[record],
        distinct=1,
        actions=[blocked, Action(action="deny_new_services", target=identity, institution=None)],
        summary=(
            f"Identity {short(identity)}, watchlisted by {listing.source} since "
            f"{from_ms(listing.listed_at):%Y-%m-%d} ({listing.reason}), {what} at "
            f"{record.source}."
        ),
        detected_at=now,
    )
