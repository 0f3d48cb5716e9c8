"""Which subjects an input event concerns: the re-keying of the streams.

The worker sends each event once per address onto that subject kind's topic (keyed by the
subject id); replay applies it to each address in memory. Both use this one function.
"""

from typing import Literal, NamedTuple

from duanka.detector.core.intake import Admitted, Appeal, Confirmation, WatchlistUpdate
from duanka.schemas.alerts import SubjectKind
from duanka.schemas.dispositions import Disposition
from duanka.schemas.events import AccountOpen, SimActivation, Transfer

Stream = Literal["sim", "open", "listing", "out", "in", "flag", "appeal"]
"""What the event is to the subject: a SIM activation, an account opening, a watchlist
record, a transfer leaving or entering the account, a confirmation flagging the account,
or an appeal of an alert about the identity."""

SUBJECT_KINDS: tuple[SubjectKind, ...] = ("identity", "account", "device", "msisdn")


class Address(NamedTuple):
    """One subject an event is applied to, and as what (a tuple: two to four are made per
    event)."""

    kind: SubjectKind
    id: str
    stream: Stream


def route(event: Admitted) -> list[Address]:
    """The subjects an admitted event updates, in a fixed order. Events are told apart by
    their exact type, transfers (most of the traffic) first: an isinstance check of a
    pydantic model goes through its ABC machinery."""
    if type(event) is Transfer:
        return [
            Address("account", event.from_account, "out"),
            Address("account", event.to_account, "in"),
        ]
    if type(event) is SimActivation:
        addresses = [
            Address("identity", event.identity, "sim"),
            Address("msisdn", event.msisdn, "sim"),
        ]
        if event.device is not None:
            addresses.append(Address("device", event.device, "sim"))
        return addresses
    if type(event) is AccountOpen:
        addresses = [
            Address("identity", event.identity, "open"),
            Address("account", event.account, "open"),
        ]
        if event.msisdn is not None:
            addresses.append(Address("msisdn", event.msisdn, "open"))
        if event.device is not None:
            addresses.append(Address("device", event.device, "open"))
        return addresses
    if type(event) is WatchlistUpdate:
        return [Address("identity", event.identity, "listing")]
    if type(event) is Confirmation:
        return [Address("account", event.account, "flag")]
    if type(event) is Appeal:
        return [Address("identity", event.identity, "appeal")]
    if type(event) is Disposition:
        return []  # about an alert: the case linker takes it
    raise TypeError(f"cannot route {type(event).__name__}")
