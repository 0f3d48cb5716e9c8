"""A small seeded history for the deterministic simulation: a few people, accounts and
devices doing enough, close enough together, that nearly every rule fires, and that the
order of a subject's events decides which event is each alert's trigger.

Its lines are what replay reads, in order, and what the simulated producers write, one line
after another at `gap` ms apart. The history keeps the assumptions the worker's order rests
on (docs/guarantees.md): event times rise from line to line, and a watchlist record about
someone comes more than the watchlist lead, and every producer's delay, after their last
event, so that "written before it" means the same in replay and in the worker.
"""

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from duanka.detector.core.intake import InputTopic
from duanka.schemas.alerts import Alert
from duanka.schemas.codec import encode
from tests.factories import account_open, activation, identity, listing, transfer

START = datetime(2026, 10, 1, tzinfo=UTC)
PEOPLE = ("ann", "bo", "chen", "dai")
DEVICES = ("modem-1", "modem-2")
RECEIVERS = ("ccb:r1", "ccb:r2")
SENDERS = tuple(f"icbc:s{n}" for n in range(14))


@dataclass(frozen=True, slots=True)
class Line:
    """One input message: its topic, key and value (None: a tombstone)."""

    topic: InputTopic
    key: str
    value: bytes | None

    def replay_line(self) -> bytes:
        value: Any = None if self.value is None else orjson.loads(self.value)
        return orjson.dumps({"topic": self.topic, "key": self.key, "value": value})


@dataclass(frozen=True, slots=True)
class History:
    lines: list[Line]
    gap: int
    """Milliseconds between two lines being sent (0: a backlog, written all at once)."""
    times: list[datetime]
    """Each line's time: an event's, or when a watchlist record or disposition was made."""


def history(rng: random.Random, max_delay: int, lead: int) -> History:
    """A history of 40 to 90 lines, sent `gap` apart by producers that may each delay a
    line up to `max_delay` ms; no watchlist record within `lead` + `max_delay` ms of its
    person's last event."""
    gap = rng.choice((0, 5, 20, 50, 120))
    lines: list[Line] = []
    times: list[datetime] = []
    at = START
    last_event: dict[str, int] = {}
    opened: list[str] = []
    for number in range(rng.randint(40, 90)):
        at += timedelta(minutes=rng.randint(2, 40))
        times.append(at)
        sent = number * gap
        roll = rng.random()
        who = rng.choice(PEOPLE)
        if roll < 0.07 and gap and sent - last_event.get(who, -(10**9)) > lead + max_delay:
            entry = listing(who, at - timedelta(days=1)) if rng.random() < 0.6 else None
            value = None if entry is None else encode(entry)
            lines.append(Line("watchlist", identity(who), value))
            continue
        if roll < 0.35:
            device = rng.choice((None, *DEVICES))
            event: Any = activation(who, at, n=number, device=device)
            lines.append(Line("sim-activations", event.identity, encode(event)))
            last_event[who] = sent
        elif roll < 0.5:
            kind = rng.choice(("personal", "personal", "payment", "corporate"))
            device = rng.choice((None, *DEVICES))
            event = account_open(who, at, n=number, kind=kind, device=device)
            opened.append(event.account)
            lines.append(Line("account-opens", event.identity, encode(event)))
            last_event[who] = sent
        else:
            receivers = (*RECEIVERS, *opened[-2:])
            if rng.random() < 0.75:
                sender, receiver = rng.choice(SENDERS), rng.choice(receivers)
            else:
                sender, receiver = rng.choice(receivers), rng.choice(SENDERS)
            amount = rng.choice((10_000, 200_000, 900_000, 3_000_000))
            event = transfer(sender, receiver, amount, at, n=number)
            lines.append(Line("transfers", event.from_account, encode(event)))
    return History(lines, gap, times)


def with_dispositions(rng: random.Random, world: History, raised: list[list[Alert]]) -> History:
    """The history with institutions' decisions on some of the alerts it raises (`raised`:
    per line, replay's alerts), each a line in time order: most some lines after the alert's
    trigger (a carrier finding an identity's alert a false positive, a bank confirming an
    account's), some before it (decided on an alert not raised yet), some of an alert id
    that does not exist, and some an institution's second, different decision. None about
    a person comes after their last event before a watchlist record about them."""
    inserts: list[tuple[int, int, str, str, str]] = []
    alerts = [(n, a) for n, found in enumerate(raised) for a in found]
    lines = len(world.lines)
    for _ in range(rng.randint(0, 6) if alerts else 0):
        trigger, alert = rng.choice(alerts)
        roll = rng.random()
        place = rng.randint(0, trigger) if roll < 0.1 else rng.randint(trigger + 1, lines)
        if alert.subject.kind == "identity" and _listed_next(world, place, alert.subject.id):
            continue
        alert_id = "f" * 32 if roll > 0.9 else alert.alert_id
        outcome = {"identity": "false_positive", "account": "confirmed"}.get(
            alert.subject.kind, rng.choice(("confirmed", "actioned"))
        )
        institution = rng.choice(("cmcc", "icbc"))
        inserts.append((place, len(inserts), alert_id, institution, outcome))
        if rng.random() < 0.15:
            again = "actioned" if outcome != "actioned" else "confirmed"
            inserts.append((rng.randint(place, lines), len(inserts), alert_id, institution, again))
    history, times = list(world.lines), list(world.times)
    for place, n, alert_id, institution, outcome in sorted(inserts, reverse=True):
        decided = (times[place - 1] if place else START) + timedelta(seconds=1 + n)
        value = {
            "alert_id": alert_id,
            "institution": institution,
            "outcome": outcome,
            "decided_at": decided.isoformat(),
        }
        history.insert(place, Line("dispositions", alert_id, orjson.dumps(value)))
        times.insert(place, decided)
    return History(history, world.gap, times)


def _listed_next(world: History, place: int, who: str) -> bool:
    """Whether, from line `place` on, the next line about the identity `who` is a watchlist
    record: a disposition about them written there would break an assumption of the
    worker's order (docs/guarantees.md)."""
    for line in world.lines[place:]:
        if line.key == who and line.topic in ("watchlist", "sim-activations", "account-opens"):
            return line.topic == "watchlist"
    return False
