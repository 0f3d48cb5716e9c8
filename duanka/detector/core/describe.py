"""A subject's state as an analyst reads it: what its windows hold, whether it is listed
or flagged, and what was alerted. The query API returns this; it is plain data, safe to
serialize."""

from datetime import timedelta
from typing import Any

from duanka.detector.core.clock import duration_ms, from_ms
from duanka.detector.core.policy import Policy
from duanka.detector.core.state import AccountState, IdentityState, SubjectState
from duanka.schemas.alerts import SubjectKind

RULE_HISTORIES: dict[SubjectKind, tuple[tuple[str, str], ...]] = {
    "identity": (
        ("bulk_sim_opener", "sims"),
        ("bulk_account_opener", "opens"),
        ("bulk_company_accounts", "opens"),
    ),
    "device": (("shared_device", "uses"),),
    "msisdn": (("borrowed_phone", "activations"),),
    "account": (
        ("mule_pass_through", "incoming"),
        ("mule_fan_in", "incoming"),
        ("mule_fan_out", "outgoing"),
        ("new_account_velocity", "incoming"),
    ),
}
"""Per kind, each windowed rule and the history whose records it counts."""


def describe(kind: SubjectKind, state: SubjectState, policy: Policy) -> dict[str, Any]:
    """The state of one subject. Window counts are the records of each rule's window that
    ends at the subject's newest event (the records a rule looks at, not its measure:
    distinct identities, senders or sums are the rule's own)."""
    newest = max((r.at for h in state.histories() for r in h), default=None)
    windows = {}
    for rule, history in RULE_HISTORIES[kind]:
        window = _window(policy, rule)
        records = getattr(state, history)
        count = 0 if newest is None else len(records.within(newest - duration_ms(window), newest))
        windows[rule] = {"window": _iso_duration(window), "events": count}
    described: dict[str, Any] = {
        "newest_event_at": None if newest is None else _iso(newest),
        "windows": windows,
        "suppressed": {
            rule: {"from": _iso(start), "until": _iso(end)}
            for rule, (start, end) in sorted(state.suppressions.items())
        },
        "recent_alerts": [
            {"alert_id": a.alert_id, "rule": a.rule, "at": _iso(a.at)} for a in state.recent_alerts
        ],
    }
    if isinstance(state, IdentityState):
        listing = state.listing
        described["watchlist"] = None
        if listing is not None:
            described["watchlist"] = {
                "listed_at": _iso(listing.listed_at),
                "expires_at": None if listing.expires_at is None else _iso(listing.expires_at),
                "source": listing.source,
                "reason": listing.reason,
            }
    if isinstance(state, AccountState):
        if state.opening is not None:
            described["opened"] = {
                "at": _iso(state.opening.at),
                "account_kind": state.opening.account_kind,
                "source": state.opening.source,
                "holder": state.opening.holder,
            }
        described["flags"] = [
            {"alert_id": flag.alert_id, "rule": flag.rule, "at": _iso(flag.at)}
            for flag in state.flags
        ]
    return described


def _window(policy: Policy, rule: str) -> timedelta:
    rule_policy = getattr(policy, rule)
    window: timedelta = getattr(rule_policy, "window", None) or rule_policy.lookback
    return window


def _iso(ms: int) -> str:
    return from_ms(ms).isoformat().replace("+00:00", "Z")


def _iso_duration(duration: timedelta) -> str:
    """ISO 8601, in the largest whole unit: P7D, PT24H, PT90M."""
    seconds = int(duration.total_seconds())
    if seconds % 86_400 == 0:
        return f"P{seconds // 86_400}D"
    unit, size = next((u, n) for u, n in (("H", 3_600), ("M", 60), ("S", 1)) if seconds % n == 0)
    return f"PT{seconds // size}{unit}"
