"""What an alert's evidence events tie together: the edges of its case's graph.

An alert names entities (`evidence.entities`), but not how they hang together: which person
activated which number, who opened which account, which account paid which and how much.
The analyst working a case needs exactly that, and only the subject's state has it, in the
records of the events the alert counted. So when a subject publishes an alert, its ties are
read from its state and travel with the alert to the case linker (`linking`), which keeps
them with it. Ties are not part of the alert on the wire: consumers act on alerts; the
anti-fraud centre's console draws ties.
"""

from collections.abc import Iterable, Iterator
from typing import Literal, NamedTuple, TypeVar

import orjson

from duanka.detector.core.history import Timed
from duanka.detector.core.state import (
    AccountState,
    DeviceState,
    DeviceUse,
    Entity,
    IdentityState,
    Leg,
    MsisdnState,
    OpenRecord,
    SimRecord,
    SubjectState,
)
from duanka.schemas.alerts import Alert, EntityKind

Relation = Literal["activated", "opened", "device", "outlet", "company", "number", "paid"]
"""identity → number it activated; identity → account it opened; identity → device it used;
identity → outlet it activated at; account → company it was opened for; account → number
it was opened with; account → account it paid."""


R = TypeVar("R", bound=Timed)


class Tie(NamedTuple):
    """One event joining two entities, from the one that acted."""

    source: Entity
    target: Entity
    relation: Relation
    event_id: str
    at: int
    """The event's time (epoch ms)."""
    amount_minor: int | None = None
    """For `paid`: the amount when it is in the policy's currency (None: another)."""


def ties_of(alert: Alert, state: SubjectState | None) -> list[Tie]:
    """The ties of the events the alert counted that its subject's state still holds, and,
    for an account, who opened it. Sorted, each once."""
    wanted = set(alert.evidence.event_ids)
    subject = alert.subject.id
    ties: set[Tie] = set()
    if isinstance(state, IdentityState):
        ties.update(_identity_ties(subject, _wanted(state.sims, wanted)))
        ties.update(_identity_ties(subject, _wanted(state.opens, wanted)))
    elif isinstance(state, DeviceState):
        for device_use in _wanted(state.uses, wanted):
            ties.update(_device_ties(subject, device_use))
    elif isinstance(state, MsisdnState):
        for activation in _wanted(state.activations, wanted):
            ties.update(
                _activation(
                    activation.identity, subject, activation, activation.device, activation.outlet
                )
            )
        for use in _wanted(state.uses, wanted):
            ties.update(_opening(use.identity, use.account, use, subject, use.device, use.company))
    elif isinstance(state, AccountState):
        for leg in _wanted(state.incoming, wanted):
            ties.add(_paid(("account", leg.counterparty), ("account", subject), leg))
        for leg in _wanted(state.outgoing, wanted):
            ties.add(_paid(("account", subject), ("account", leg.counterparty), leg))
        opening = state.opening
        if opening is not None and opening.holder is not None:
            holder: Entity = ("identity", opening.holder)
            ties.add(Tie(holder, ("account", subject), "opened", opening.event_id, opening.at))
    return sorted(ties)


def encode_ties(ties: Iterable[Tie]) -> bytes:
    """`[[source kind, source id, target kind, target id, relation, event id, at, amount]]`."""
    return orjson.dumps([[*t.source, *t.target, *t[2:]] for t in ties])


def decode_ties(data: bytes) -> list[Tie]:
    """Read `encode_ties`' output; raises ValueError for anything else."""
    try:
        rows = orjson.loads(data)
        if not isinstance(rows, list):
            raise TypeError("a list of ties expected")
        return [
            Tie((a_kind, a_id), (b_kind, b_id), relation, event_id, at, amount)
            for a_kind, a_id, b_kind, b_id, relation, event_id, at, amount in rows
        ]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not ties: {exc}") from exc


def _wanted(records: Iterable[R], wanted: set[str]) -> list[R]:
    return [record for record in records if record.event_id in wanted]


def _identity_ties(identity: str, records: Iterable[SimRecord | OpenRecord]) -> Iterator[Tie]:
    for record in records:
        if isinstance(record, SimRecord):
            yield from _activation(identity, record.msisdn, record, record.device, record.outlet)
        else:
            yield from _opening(
                identity, record.account, record, record.msisdn, record.device, record.company
            )


def _device_ties(device: str, use: DeviceUse) -> Iterator[Tie]:
    if use.account is not None:
        yield from _opening(use.identity, use.account, use, use.msisdn, device, use.company)
    elif use.msisdn is not None:
        yield from _activation(use.identity, use.msisdn, use, device, use.outlet)
    else:
        yield _tie("identity", use.identity, "device", device, "device", use)


def _activation(
    identity: str, msisdn: str, event: Timed, device: str | None, outlet: str | None
) -> Iterator[Tie]:
    yield _tie("identity", identity, "msisdn", msisdn, "activated", event)
    if device is not None:
        yield _tie("identity", identity, "device", device, "device", event)
    if outlet is not None:
        yield _tie("identity", identity, "outlet", outlet, "outlet", event)


def _opening(
    identity: str,
    account: str,
    event: Timed,
    msisdn: str | None,
    device: str | None,
    company: str | None,
) -> Iterator[Tie]:
    yield _tie("identity", identity, "account", account, "opened", event)
    if msisdn is not None:
        yield _tie("account", account, "msisdn", msisdn, "number", event)
    if device is not None:
        yield _tie("identity", identity, "device", device, "device", event)
    if company is not None:
        yield _tie("account", account, "company", company, "company", event)


def _tie(
    source_kind: EntityKind,
    source: str,
    target_kind: EntityKind,
    target: str,
    relation: Relation,
    event: Timed,
) -> Tie:
    return Tie((source_kind, source), (target_kind, target), relation, event.event_id, event.at)


def _paid(source: Entity, target: Entity, leg: Leg) -> Tie:
    amount = leg.amount_minor if leg.counted else None
    return Tie(source, target, "paid", leg.event_id, leg.at, amount)
