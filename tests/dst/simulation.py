"""One seed's run: a history, a cluster of one to three workers with its disruptions, and
the verdict against replay."""

import random
from dataclasses import dataclass
from datetime import timedelta

from duanka.detector.core.policy import (
    BorrowedPhonePolicy,
    MuleFanPolicy,
    NewAccountVelocityPolicy,
    PaymentToFlaggedPolicy,
    Policy,
    SharedDevicePolicy,
)
from duanka.detector.core.subject_memory import PythonMemory
from duanka.detector.partitions import WATCHLIST_LEAD_MS
from duanka.replay.replayer import Replayer
from duanka.schemas.alerts import Alert
from duanka.schemas.codec import encode
from tests.dst.cluster import NOW, Cluster
from tests.dst.ledger import Entry, Ledger
from tests.dst.world import History, history, with_dispositions

MAX_DELAY_MS = 400
"""The longest a producer takes to land a send: below the write slack and the lead."""
SETTLE_WITHIN_MS = 120_000
"""Simulated time after which a run that has not applied everything counts as stalled."""
SHORT = Policy(
    allowed_lateness=timedelta(minutes=30),
    shared_device=SharedDevicePolicy(window=timedelta(hours=6)),
    mule_fan_in=MuleFanPolicy(window=timedelta(hours=6)),
    mule_fan_out=MuleFanPolicy(window=timedelta(hours=6)),
    new_account_velocity=NewAccountVelocityPolicy(
        window=timedelta(hours=6), max_account_age=timedelta(hours=12)
    ),
    borrowed_phone=BorrowedPhonePolicy(lookback=timedelta(hours=12)),
    payment_to_flagged=PaymentToFlaggedPolicy(flag_ttl=timedelta(hours=6)),
)
"""Windows a few hours long, so that subjects forget within a history (about a day long):
every other seed runs with them."""


def policy_of(seed: int) -> Policy:
    """The policy of a seed's run: the contract's, or `SHORT`."""
    return SHORT if seed % 2 else Policy()


@dataclass(frozen=True, slots=True)
class Verdict:
    seed: int
    workers: int
    disruptions: int
    gap: int
    lines: int
    settled: bool
    missing: frozenset[str]
    """Alert ids replay raises and the cluster did not."""
    extra: frozenset[str]
    """Alert ids the cluster raised and replay did not."""
    changed: tuple[str, ...]
    """Alert ids raised with another content than replay's, or twice with two contents."""
    lost: frozenset[Entry]
    """Events replay's subjects counted and the cluster's did not."""
    miscounted: frozenset[Entry]
    """Events the cluster's subjects counted and replay's did not, or found late where
    replay's did not (or the other way round). One counted, forgotten as the subject's
    watermark passed it, and read again after a crash is late then: that is no miscount."""
    alerts: int

    @property
    def passed(self) -> bool:
        return self.settled and not (
            self.missing or self.extra or self.changed or self.lost or self.miscounted
        )

    def __str__(self) -> str:
        what = "ok" if self.passed else "FAILED"
        return (
            f"seed {self.seed}: {what}: {self.workers} workers, {self.disruptions} "
            f"disruptions, {self.lines} lines {self.gap} ms apart, {self.alerts} alerts"
            + ("" if self.settled else "; not settled")
            + (f"; missing {sorted(self.missing)}" if self.missing else "")
            + (f"; extra {sorted(self.extra)}" if self.extra else "")
            + (f"; changed {list(self.changed)}" if self.changed else "")
            + (f"; lost {sorted(self.lost)}" if self.lost else "")
            + (f"; miscounted {sorted(self.miscounted)}" if self.miscounted else "")
        )


@dataclass(frozen=True, slots=True)
class Replayed:
    """What replay makes of a history."""

    raised: list[list[Alert]]
    """Per line, the alerts raised at it."""
    ledger: Ledger
    """What its subjects counted."""

    def alerts(self) -> dict[str, bytes]:
        """The alerts by id, as the cluster records them."""
        return {
            alert.alert_id: encode(alert.model_copy(update={"detected_at": NOW}))
            for found in self.raised
            for alert in found
        }


def replay(world: History, policy: Policy) -> Replayed:
    """Replay a history; only dispositions are rejected (repeated, or of an alert never
    raised). The simulated workers apply events through the native engine, as workers do,
    and this replay through the Python engine, the reference: the ledger notes what it
    counted and found late, and the cluster what the workers did."""
    ledger = Ledger(policy)
    replayer = Replayer(ledger, memory=PythonMemory(ledger))
    raised = []
    for number, line in enumerate(world.lines, start=1):
        found, letter = replayer.replay_line(line.replay_line(), number)
        assert letter is None or letter.topic == "dispositions", letter
        raised.append(found)
    return Replayed(raised, ledger)


def world_of(rng: random.Random, policy: Policy) -> History:
    """A seed's history, with institutions' decisions on some of its alerts."""
    world = history(rng, MAX_DELAY_MS, WATCHLIST_LEAD_MS)
    return with_dispositions(rng, world, replay(world, policy).raised)


def simulate(seed: int) -> Verdict:
    """Run one seed: everything it does follows from the seed."""
    rng, policy = random.Random(seed), policy_of(seed)
    world = world_of(rng, policy)
    workers = rng.randint(1, 3)
    disruptions = rng.choice((0, 1, 2, 4, 8))
    cluster = Cluster(rng.getrandbits(64), world, workers, MAX_DELAY_MS, policy)
    settled = cluster.run(SETTLE_WITHIN_MS, disruptions)
    replayed = replay(world, policy)
    expected = replayed.alerts()
    found = cluster.alerts
    counted, late = cluster.counted, cluster.late
    changed = [i for i in sorted(set(found) & set(expected)) if found[i] != expected[i]]
    return Verdict(
        seed,
        workers,
        disruptions,
        world.gap,
        len(world.lines),
        settled,
        frozenset(expected) - set(found),
        frozenset(found) - set(expected),
        (*changed, *cluster.conflicts),
        frozenset(replayed.ledger.counted - counted),
        frozenset((counted - replayed.ledger.counted) | ((late - counted) ^ replayed.ledger.late)),
        len(expected),
    )


def describe(seed: int) -> str:
    """A failed seed's history, for finding out why."""
    world = world_of(random.Random(seed), policy_of(seed))
    return "\n".join(line.replay_line().decode() for line in world.lines)
