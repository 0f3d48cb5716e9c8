"""`watchlisted_identity`: a barred person trying to open a new service.

Authorities suspend people caught selling cards (and duanka lists bulk openers itself); any
activation by them while listed is blocked at once. Fires on every such event.
"""

from datetime import datetime
from typing import Final

from schemas.alerts import Action, Alert, Subject
from schemas.events import SimActivation
from services.detector.core.alerting import build_alert, short
from services.detector.core.clock import from_ms
from services.detector.core.state import IdentityState

RULE: Final = "watchlisted_identity"


def check(state: IdentityState, event: SimActivation, at: int, now: datetime) -> Alert | None:
    """Fire when the identity's listing is in force at the event's time."""
    listing = state.listing
    if listing is None or not listing.covers(at):
        return None
    return build_alert(
        rule=RULE,
        severity="critical",
        subject=Subject(kind="identity", id=event.identity),
        trigger=event,
        window=(listing.listed_at, at),
        event_ids=[event.event_id],
        count=1,
        distinct=1,
        actions=[
            Action(action="block_msisdn", target=event.msisdn, institution=event.source),
            Action(action="deny_new_services", target=event.identity, institution=None),
        ],
        summary=(
            f"Identity {short(event.identity)}, watchlisted by {listing.source} since "
            f"{from_ms(listing.listed_at):%Y-%m-%d} ({listing.reason}), activated SIM "
            f"{event.msisdn} at {event.source}."
        ),
        detected_at=now,
    )
