"""The simulated world: ordinary subscribers plus injected typologies, in event-time order.

Background traffic is ordinary people activating a SIM now and then, drawn from a population
so large that none of them comes near a threshold. Into it the scenario injects:

- card farmers: one identity, 5-9 activations within hours to days across several carriers
  (`bulk_sim_opener`, and `watchlisted_identity` for every activation after the listing);
- near misses: 4 activations within 7 days, or 5 spaced 2 days apart (no alert);
- watchlisted returners: an authority's listing, then 1-2 new activations
  (`watchlisted_identity` for each).

`truth` collects the (rule, subject kind, subject id) that the injected behaviour must
produce, for evaluating detection.
"""

import heapq
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.simulator import population as pop

Truth = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class SimulatedMessage:
    """One input message in the contract's replay form."""

    at: datetime
    topic: str
    key: str
    value: dict[str, Any]

    def as_replay_line(self) -> dict[str, Any]:
        """`{"topic", "key", "value"}`, as `duanka replay` reads it."""
        return {"topic": self.topic, "key": self.key, "value": self.value}


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """How the world behaves. Rates are per background event."""

    seed: int
    start: datetime
    seconds_per_event: float
    population: int = 50_000_000
    farmer_rate: float = 0.002
    near_miss_rate: float = 0.002
    returner_rate: float = 0.001


@dataclass
class Scenario:
    """Generates messages in event-time order and records the truth of what it injected."""

    config: ScenarioConfig
    truth: set[Truth] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.config.seed)
        self._queue: list[tuple[datetime, int, SimulatedMessage]] = []
        self._order = itertools.count()
        self._event_ids = itertools.count()
        # Injected people: outside the background's index range, different for every seed.
        self._injected = itertools.count(
            self.config.population + self._rng.randrange(10**6) * 10**6
        )

    def messages(self) -> Iterator[SimulatedMessage]:
        """An endless stream; take as many as needed."""
        step = timedelta(seconds=self.config.seconds_per_event)
        for tick in itertools.count():
            now = self.config.start + tick * step
            while self._queue and self._queue[0][0] <= now:
                yield heapq.heappop(self._queue)[2]
            self._inject(now)
            yield self._ordinary_activation(now)

    def pending(self) -> Iterator[SimulatedMessage]:
        """The injected messages scheduled after the last one taken, in event-time order:
        take them to complete every injected pattern (and so the truth)."""
        while self._queue:
            yield heapq.heappop(self._queue)[2]

    def _inject(self, now: datetime) -> None:
        roll = self._rng.random()
        config = self.config
        if roll < config.farmer_rate:
            self._card_farmer(now)
        elif roll < config.farmer_rate + config.near_miss_rate:
            self._near_miss(now)
        elif roll < config.farmer_rate + config.near_miss_rate + config.returner_rate:
            self._returner(now)

    def _schedule(self, message: SimulatedMessage) -> None:
        heapq.heappush(self._queue, (message.at, next(self._order), message))

    def _special_person(self) -> pop.Person:
        """Injected people come from outside the background population's index range."""
        return pop.person(next(self._injected))

    def _ordinary_activation(self, now: datetime) -> SimulatedMessage:
        who = pop.person(self._rng.randrange(self.config.population))
        return self._activation(now, who, self._rng.choice(pop.MNOS), "store")

    def _card_farmer(self, now: datetime) -> None:
        who = self._special_person()
        count = self._rng.randint(5, 9)
        span = timedelta(hours=self._rng.uniform(1, 72))
        carriers = self._rng.sample(pop.CARRIERS, k=self._rng.randint(2, 4))
        for i in range(count):
            at = now + span * (i / (count - 1))
            channel = self._rng.choice(("agent", "online"))
            self._schedule(self._activation(at, who, carriers[i % len(carriers)], channel))
        self.truth.add(("bulk_sim_opener", "identity", who.identity))
        if count > 5:
            self.truth.add(("watchlisted_identity", "identity", who.identity))

    def _near_miss(self, now: datetime) -> None:
        who = self._special_person()
        if self._rng.random() < 0.5:
            times = [now + timedelta(days=self._rng.uniform(0, 6.9)) for _ in range(4)]
        else:
            times = [now + timedelta(days=2 * i) for i in range(5)]
        for at in times:
            self._schedule(self._activation(at, who, self._rng.choice(pop.CARRIERS), "store"))

    def _returner(self, now: datetime) -> None:
        who = self._special_person()
        listed_at = now - timedelta(days=self._rng.uniform(10, 400))
        self._schedule(
            SimulatedMessage(
                at=now,
                topic="watchlist",
                key=who.identity,
                value={
                    "identity": who.identity,
                    "reason": "sold SIM cards to a fraud ring; simulated case",
                    "listed_at": listed_at.isoformat(),
                    "expires_at": (listed_at + timedelta(days=5 * 365)).isoformat(),
                    "source": pop.AUTHORITY,
                },
            )
        )
        for _ in range(self._rng.randint(1, 2)):
            at = now + timedelta(hours=self._rng.uniform(1, 48))
            self._schedule(self._activation(at, who, self._rng.choice(pop.CARRIERS), "store"))
        self.truth.add(("watchlisted_identity", "identity", who.identity))

    def _activation(
        self, at: datetime, who: pop.Person, carrier: str, channel: str
    ) -> SimulatedMessage:
        rng = self._rng
        sim_kind = (
            "iot" if carrier in pop.IOT_RESELLERS else ("mvno" if carrier in pop.MVNOS else "mno")
        )
        value: dict[str, Any] = {
            "event_id": f"{carrier}-{next(self._event_ids):010d}",
            "occurred_at": at.isoformat(timespec="milliseconds"),
            "source": carrier,
            "identity": who.identity,
            "msisdn": pop.msisdn(rng),
            "sim_kind": sim_kind,
            "channel": channel,
            "outlet": pop.outlet(rng, carrier),
            "device": pop.device(rng),
        }
        return SimulatedMessage(at, "sim-activations", who.identity, value)
