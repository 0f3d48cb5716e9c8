"""Builders for valid contract messages, so each test states only what it is about."""

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from duanka.detector.core.clock import to_ms
from duanka.detector.core.engine import Engine, Outcome
from duanka.detector.core.intake import Admitted, WatchlistUpdate
from duanka.detector.core.policy import Policy
from duanka.detector.core.routing import Address, Stream
from duanka.detector.core.state import IdentityState, SubjectState
from duanka.replay.replayer import Replayer
from duanka.schemas.alerts import Alert
from duanka.schemas.events import AccountOpen, SimActivation, Transfer, WatchlistEntry

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def identity(name: str) -> str:
    """A valid identity token, readable in tests by its name."""
    return hashlib.sha256(name.encode()).hexdigest()


def sim_activation_fields(**overrides: Any) -> dict[str, Any]:
    """The JSON fields of a valid SIM activation."""
    fields: dict[str, Any] = {
        "event_id": "cmcc-1",
        "occurred_at": "2026-11-01T12:00:00+08:00",
        "source": "cmcc",
        "identity": identity("alice"),
        "msisdn": "+8613800000001",
        "sim_kind": "mno",
        "channel": "store",
    }
    fields.update(overrides)
    return fields


def activation(
    who: str = "alice",
    at: datetime = T0,
    n: int = 1,
    source: str = "cmcc",
    event_id: str | None = None,
    msisdn: str | None = None,
    device: str | None = None,
    outlet: str | None = None,
) -> SimActivation:
    """The n-th activation by `who` at `at`, with a number and event id derived from both."""
    return SimActivation(
        event_id=event_id or f"{source}-{who}-{n}",
        occurred_at=at,
        source=source,
        identity=identity(who),
        msisdn=msisdn or number(who, n),
        sim_kind="mno",
        channel="store",
        device=device,
        outlet=outlet,
    )


def number(who: str, n: int) -> str:
    """A phone number of `who`'s, distinct per (who, n)."""
    return f"+861{int(identity(who)[:8], 16) % 10**6:06d}{n:04d}"


def burst(
    who: str,
    count: int,
    start: datetime = T0,
    step: timedelta = timedelta(hours=1),
    first_n: int = 1,
) -> list[SimActivation]:
    """`count` activations by `who`, `step` apart from `start`, numbered from `first_n`."""
    return [activation(who, start + i * step, n=first_n + i) for i in range(count)]


def listing(
    who: str,
    listed_at: datetime,
    expires_at: datetime | None = None,
    source: str = "mps-afc",
) -> WatchlistEntry:
    """An authority's watchlist entry."""
    return WatchlistEntry(
        identity=identity(who),
        reason="sold SIM cards",
        listed_at=listed_at,
        expires_at=expires_at,
        source=source,
    )


def at_identity(
    engine: Engine,
    state: SubjectState | None,
    event: SimActivation | AccountOpen,
    now: datetime = NOW,
    watermark: datetime | None = None,
) -> Outcome:
    """Apply an activation or opening to its identity only (not to its number or device),
    settling state against `watermark` if given."""
    stream: Stream = "sim" if isinstance(event, SimActivation) else "open"
    return engine.apply(
        Address("identity", event.identity, stream),
        state,
        event,
        now,
        watermark=None if watermark is None else to_ms(watermark),
    )


def set_listing(
    engine: Engine, state: SubjectState | None, who: str, entry: WatchlistEntry | None
) -> IdentityState | None:
    """Apply a watchlist record (None: a tombstone) for `who`; returns the new state."""
    update = WatchlistUpdate(identity(who), entry)
    outcome = engine.apply(Address("identity", identity(who), "listing"), state, update, NOW)
    assert outcome.state is None or isinstance(outcome.state, IdentityState)
    return outcome.state


def alerts_in_order(
    events: Iterable[Admitted | WatchlistEntry], policy: Policy | None = None
) -> list[Alert]:
    """Every alert the core raises for these events applied in this order to every subject
    they concern, as replay and the worker apply them."""
    replayer = Replayer(Engine(policy or Policy()))
    alerts: list[Alert] = []
    for event in events:
        if isinstance(event, WatchlistEntry):
            event = WatchlistUpdate(event.identity, event)
        alerts += replayer.apply(event)
    return alerts


def account_open(
    who: str = "alice",
    at: datetime = T0,
    n: int = 1,
    source: str = "icbc",
    kind: str = "personal",
    company: str | None = None,
    msisdn: str | None = None,
    device: str | None = None,
    account: str | None = None,
) -> AccountOpen:
    """The n-th account opened by `who` at `source`."""
    return AccountOpen(
        event_id=f"{source}-open-{who}-{n}",
        occurred_at=at,
        source=source,
        identity=identity(who),
        account=account or f"{source}:{who}-{n}",
        account_kind=kind,  # type: ignore[arg-type]
        channel="counter",
        msisdn=msisdn,
        device=device,
        company=company or (f"company-{who}-{n}" if kind == "corporate" else None),
    )


def transfer(
    sender: str,
    receiver: str,
    amount_minor: int,
    at: datetime = T0,
    n: int = 1,
    currency: str = "CNY",
) -> Transfer:
    """A transfer between two accounts, its event id unique per (sender, receiver, n)."""
    return Transfer(
        event_id=f"t-{sender}-{receiver}-{n}",
        occurred_at=at,
        source="icbc",
        from_account=sender,
        to_account=receiver,
        from_institution="icbc",
        to_institution="ccb",
        amount_minor=amount_minor,
        currency=currency,
        channel="mobile",
    )


def rules_of(alerts: Iterable[Alert], rule: str) -> list[Alert]:
    """The alerts of one rule."""
    return [a for a in alerts if a.rule == rule]
