"""The simulated world: ordinary life plus injected typologies, in event-time order.

Background traffic is ordinary people activating SIMs and opening accounts now and then,
shoppers paying merchants, employers paying salaries and families sending money, drawn from
populations so large that none of them comes near a threshold. Merchants' and employers'
corporate openings are produced first, as an institution's back catalogue would be. Into
that the scenario injects one typology per rule, plus near misses just under each threshold
that must not alert, and gangs that combine several typologies. `truth` collects the (rule,
subject kind, subject id) the injected behaviour must produce, and `gangs` which injection
each of those subjects belongs to: the alerts of one injection are one case, and alerts of
two never share one (a victim paying two gangs does not join them).

Institutions report back on some alerts (`dispositions`): banks confirm collectors as mule
accounts (and a victim paying one after the mule rules' flags have run out is warned all
the same), carriers find some bulk openers were not selling cards (an appeal: duanka's
listing is lifted, and the person comes back unalerted), and now and then a bank reports
twice on one alert, or a carrier mistypes an alert id: both end in dead letters. An
alert's id derives from its rule, subject and trigger (`core.alerting.alert_id`), and the
simulator knows which event triggers each alert it has institutions decide on; `expected`
lists the warnings that must be raised, by id, with the flag each must name.
"""

import heapq
import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from duanka.detector.core.alerting import alert_id
from duanka.schemas.alerts import RuleName, Subject, SubjectKind
from duanka.simulator import population as pop

Truth = tuple[str, str, str]
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
PATTERN_SPAN = timedelta(days=45)
"""No injected pattern lasts longer: every message it schedules comes at most this long
after the background event it was injected at (a workshop's collector is paid up to 5 days
in, confirmed up to 10 days later, and paid once more up to 29 days after that)."""
CONFIRMED_SHARE = 0.5
"""Of the collectors, the share their bank confirms as mule accounts."""
TWICE_SHARE = 0.3
"""Of the confirmations, the share the bank follows with a second report (dead-lettered)."""
MISTYPED_SHARE = 0.25
"""Of the appeals, the share the carrier first sends with a mistyped alert id."""


@dataclass(frozen=True, slots=True)
class SimulatedMessage:
    """One input message in the contract's replay form."""

    at: datetime
    topic: str
    key: str
    value: dict[str, Any] | None
    """None: a watchlist tombstone."""

    def as_replay_line(self) -> dict[str, Any]:
        """`{"topic", "key", "value"}`, as `duanka replay` reads it."""
        return {"topic": self.topic, "key": self.key, "value": self.value}

    def encoded_value(self) -> bytes | None:
        """The value as a producer writes it to Kafka (None stays None: a tombstone)."""
        return None if self.value is None else orjson.dumps(self.value)


@dataclass(frozen=True, slots=True)
class ExpectedAlert:
    """An alert the injected behaviour must raise, by id, and the flag it must name (None:
    any mule rule's)."""

    rule: RuleName
    kind: SubjectKind
    id: str
    alert_id: str
    flag_alert_id: str | None


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """How the world behaves. `injection_rate` is per background event."""

    seed: int
    start: datetime
    seconds_per_event: float
    population: int = 50_000_000
    personal_accounts: int = 200_000
    merchants: int = 500
    employers: int = 200
    injection_rate: float = 0.02
    near_miss_share: float = 0.5
    """Of the injections, the share that are near misses."""
    dispositions: bool = True
    """Whether institutions report back on alerts."""


@dataclass
class Scenario:
    """Generates messages in event-time order and records the truth of what it injected."""

    config: ScenarioConfig
    truth: set[Truth] = field(default_factory=set)
    gangs: dict[tuple[str, str], str] = field(default_factory=dict)
    """Per (subject kind, subject id) of the truth, the injection it belongs to."""
    expected: list[ExpectedAlert] = field(default_factory=list)
    """Warnings that must be raised, by id (each one's pair is in `truth` too)."""

    def __post_init__(self) -> None:
        self._rng = random.Random(self.config.seed)
        self._queue: list[tuple[datetime, int, SimulatedMessage]] = []
        self._order = itertools.count()
        self._event_ids = itertools.count()
        # Injected people and accounts: outside the background ranges, new for every seed.
        self._fresh = itertools.count(self.config.population + self._rng.randrange(10**6) * 10**6)
        self._injections = itertools.count(1)
        self._gang = ""
        """The injection running: what `_expect` files the truth under."""
        self._last_victim: str | None = None
        """A victim of the last collector, who pays the next one too."""
        self._typologies: list[Callable[[datetime], None]] = [
            self._card_farmer,
            self._account_farmer,
            self._shell_companies,
            self._sim_farm,
            self._mule_ring,
            self._borrowed_phone,
            self._returner,
            self._workshop_gang,
            self._appealed_opener,
        ]
        self._near_misses: list[Callable[[datetime], None]] = [
            self._near_card_farmer,
            self._near_account_farmer,
            self._near_shell_companies,
            self._near_sim_farm,
            self._near_fan_in,
            self._near_pass_through,
            self._own_phone,
            self._lifted_listing,
        ]

    def messages(self) -> Iterator[SimulatedMessage]:
        """An endless stream; take as many as needed."""
        yield from self._back_catalogue()
        step = timedelta(seconds=self.config.seconds_per_event)
        for tick in itertools.count():
            now = self.config.start + tick * step
            while self._queue and self._queue[0][0] <= now:
                yield heapq.heappop(self._queue)[2]
            if self._rng.random() < self.config.injection_rate:
                pool = (
                    self._near_misses
                    if self._rng.random() < self.config.near_miss_share
                    else self._typologies
                )
                typology = self._rng.choice(pool)
                self._gang = f"{typology.__name__.strip('_')}-{next(self._injections)}"
                typology(now)
            yield self._background(now)

    def newcomers(self, count: int) -> Iterator[SimulatedMessage]:
        """`count` SIM activations in a store by as many people, one each, at the
        scenario's pace: a population's first contact, so every identity (and number and
        device) is new. No pattern is injected."""
        step = timedelta(seconds=self.config.seconds_per_event)
        for index in range(count):
            who = pop.person(index)
            carrier = self._rng.choice(pop.MNOS)
            yield self._activation(self.config.start + index * step, who, carrier, "store")

    def workshop_gang(self, now: datetime) -> list[SimulatedMessage]:
        """One workshop gang (`_workshop_gang`) and its mule ring, whole and in event-time
        order: a case to look at, for tests and demonstrations."""
        self._gang = f"workshop_gang-{next(self._injections)}"
        self._workshop_gang(now)
        return list(self.pending())

    def pending(self) -> Iterator[SimulatedMessage]:
        """The injected messages scheduled after the last one taken, in event-time order:
        take them to complete every injected pattern (and so the truth)."""
        while self._queue:
            yield heapq.heappop(self._queue)[2]

    # -- ordinary life ----------------------------------------------------------------------

    def _back_catalogue(self) -> Iterator[SimulatedMessage]:
        """Corporate openings of merchants and employers, one to three years before the start,
        oldest first."""
        openings = []
        for number in range(self.config.merchants + self.config.employers):
            at = self.config.start - timedelta(days=365 + self._rng.randrange(730))
            owner = pop.person(self._rng.randrange(self.config.population))
            openings.append(self._account_open(at, owner, self._business(number), "corporate"))
        yield from sorted(openings, key=lambda message: message.at)

    def _business(self, number: int) -> str:
        return f"{pop.BANKS[number % len(pop.BANKS)]}:c{number:06d}"

    def _personal(self) -> str:
        number = self._rng.randrange(self.config.personal_accounts)
        return f"{pop.BANKS[number % len(pop.BANKS)]}:p{number:08d}"

    def _background(self, now: datetime) -> SimulatedMessage:
        rng = self._rng
        roll = rng.random()
        if roll < 0.35:
            who = pop.person(rng.randrange(self.config.population))
            return self._activation(now, who, rng.choice(pop.MNOS), "store")
        if roll < 0.40:
            who = pop.person(rng.randrange(self.config.population))
            bank = rng.choice(pop.BANKS + pop.PAYMENT_INSTITUTIONS)
            kind = "payment" if bank in pop.PAYMENT_INSTITUTIONS else "personal"
            account = f"{bank}:n{next(self._fresh):012d}"
            return self._account_open(now, who, account, kind, msisdn=pop.registered_number(rng))
        if roll < 0.75:
            merchant = self._business(rng.randrange(self.config.merchants))
            return self._transfer(now, self._personal(), merchant, rng.randrange(500, 50_000))
        if roll < 0.90:
            sender, receiver = self._personal(), self._personal()
            while receiver == sender:
                receiver = self._personal()
            return self._transfer(now, sender, receiver, rng.randrange(10_000, 200_000))
        employer = self._business(self.config.merchants + rng.randrange(self.config.employers))
        return self._transfer(now, employer, self._personal(), rng.randrange(300_000, 2_000_000))

    # -- typologies -------------------------------------------------------------------------

    def _card_farmer(self, now: datetime) -> None:
        """5-9 SIMs at 2-4 carriers within 1-72 hours."""
        who = self._person()
        count = self._rng.randint(5, 9)
        span = timedelta(hours=self._rng.uniform(1, 72))
        carriers = self._rng.sample(pop.CARRIERS, k=self._rng.randint(2, 4))
        for i in range(count):
            channel = self._rng.choice(("agent", "online"))
            self._schedule(
                self._activation(
                    now + span * (i / (count - 1)), who, carriers[i % len(carriers)], channel
                )
            )
        self._expect(("bulk_sim_opener", "identity", who.identity))
        if count > 5:
            self._expect(("watchlisted_identity", "identity", who.identity))

    def _account_farmer(self, now: datetime) -> None:
        """3-5 personal or payment accounts at different institutions within 1-6 days."""
        who = self._person()
        count = self._rng.randint(3, 5)
        span = timedelta(days=self._rng.uniform(1, 6))
        places = self._rng.sample(pop.BANKS + pop.PAYMENT_INSTITUTIONS, k=count)
        for i, place in enumerate(places):
            kind = "payment" if place in pop.PAYMENT_INSTITUTIONS else "personal"
            self._schedule(
                self._account_open(
                    now + span * (i / (count - 1)), who, self._new_account(place), kind
                )
            )
        self._expect(("bulk_account_opener", "identity", who.identity))
        if count > 3:
            self._expect(("watchlisted_identity", "identity", who.identity))

    def _shell_companies(self, now: datetime) -> None:
        """Corporate accounts for 2-3 companies within 1-25 days."""
        who = self._person()
        count = self._rng.randint(2, 3)
        span = timedelta(days=self._rng.uniform(1, 25))
        for i in range(count):
            bank = self._rng.choice(pop.BANKS)
            self._schedule(
                self._account_open(
                    now + span * (i / (count - 1)),
                    who,
                    self._new_account(bank),
                    "corporate",
                    company=pop.company(self._rng),
                )
            )
        self._expect(("bulk_company_accounts", "identity", who.identity))
        if count > 2:
            self._expect(("watchlisted_identity", "identity", who.identity))

    def _sim_farm(self, now: datetime) -> None:
        """5-8 identities activate SIMs on one modem within 1-20 hours."""
        modem = pop.device(self._rng)
        count = self._rng.randint(5, 8)
        span = timedelta(hours=self._rng.uniform(1, 20))
        carrier = self._rng.choice(pop.IOT_RESELLERS + pop.MVNOS)
        for i in range(count):
            self._schedule(
                self._activation(
                    now + span * (i / (count - 1)),
                    self._person(),
                    carrier,
                    "agent",
                    on_device=modem,
                )
            )
        self._expect(("shared_device", "device", modem))

    def _mule_ring(self, now: datetime) -> None:
        """Days after a collector account is opened, victims pay it and it passes the money
        on (`_collect`)."""
        rng = self._rng
        collector = self._new_account(rng.choice(pop.BANKS))
        self._schedule(self._account_open(now, self._person(), collector, "personal"))
        relay = self._new_account(rng.choice(pop.BANKS))
        self._collect(collector, relay, now + timedelta(days=rng.uniform(1, 5)))

    def _collect(self, collector: str, relay: str, now: datetime) -> None:
        """Victims pay the collector within 50 minutes, one of them again hours later (warned:
        a mule rule has flagged it by then), the first one having paid the last collector
        too; the collector passes 95% to a relay account, which scatters 90% over 10-12
        cash-out accounts."""
        rng = self._rng
        victims = [self._last_victim or self._personal()]
        victims += [self._personal() for _ in range(rng.randint(9, 13))]
        received = 0
        for i, victim in enumerate(victims):
            amount = rng.randrange(60_000, 300_000)
            received += amount
            at = now + 50 * MINUTE * (i / (len(victims) - 1))
            self._schedule(self._transfer(at, victim, collector, amount, "online"))
        later = now + timedelta(hours=rng.uniform(2, 20))
        again = self._transfer(later, rng.choice(victims[1:]), collector, 50_000, "online")
        self._schedule(again)
        self._expect_alert("payment_to_flagged", "account", collector, again, flag=None)
        self._last_victim = victims[-1]
        passed = received * 95 // 100
        handover = self._transfer(now + 55 * MINUTE, collector, relay, passed, "online")
        self._schedule(handover)
        if self.config.dispositions and rng.random() < CONFIRMED_SHARE:
            self._confirm(collector, handover, victims[1:], now)
        cash_outs = rng.randint(10, 12)
        for i in range(cash_outs):
            self._schedule(
                self._transfer(
                    now + 60 * MINUTE + i * MINUTE,
                    relay,
                    self._new_account(rng.choice(pop.BANKS)),
                    passed * 90 // 100 // cash_outs,
                    "atm",
                )
            )
        for rule, account in (
            ("mule_fan_in", collector),
            ("mule_pass_through", collector),
            ("new_account_velocity", collector),
            ("payment_to_flagged", collector),  # the victims after the first flag
            ("mule_pass_through", relay),
            ("mule_fan_out", relay),
        ):
            self._expect((rule, "account", account))

    def _confirm(
        self, collector: str, handover: SimulatedMessage, victims: list[str], now: datetime
    ) -> None:
        """Days later the collector's bank confirms the pass-through alert the handover
        raised. Weeks after that, when the mule rules' flags have run out, a victim pays
        the collector once more, and is warned all the same, naming the confirmed alert.
        Some banks then report freezing the account too: a second decision on one alert."""
        rng = self._rng
        bank = collector.split(":", 1)[0]
        confirmed = self._alert_of("mule_pass_through", "account", collector, handover)
        decided = now + timedelta(days=rng.uniform(5, 10))
        self._schedule(self._disposition(decided, confirmed, bank, "confirmed"))
        if rng.random() < TWICE_SHARE:
            self._schedule(self._disposition(decided + DAY, confirmed, bank, "actioned"))
        late = decided + timedelta(days=rng.uniform(26, 29))
        payment = self._transfer(late, rng.choice(victims), collector, 30_000, "online")
        self._schedule(payment)
        self._expect_alert("payment_to_flagged", "account", collector, payment, flag=confirmed)

    def _workshop_gang(self, now: datetime) -> None:
        """A gang's workshop: 5-6 people activate SIMs on one modem within hours. One of them
        sells cards (4-6 more SIMs within two days); another opens accounts at three
        institutions, the first of which becomes the gang's collector; a third opens the
        relay account with a number a fourth activated on the modem (`_collect`)."""
        rng = self._rng
        modem = pop.device(rng)
        carrier = rng.choice(pop.IOT_RESELLERS + pop.MVNOS)
        people = [self._person() for _ in range(rng.randint(5, 6))]
        seller, farmer, relay_holder, lender = people[:4]
        lent = pop.mobile_number(rng)
        for i, who in enumerate(people):
            number = lent if who is lender else None
            activation = self._activation(
                now + i * HOUR, who, carrier, "agent", on_device=modem, msisdn=number
            )
            self._schedule(activation)
        self._expect(("shared_device", "device", modem))
        sold = rng.randint(4, 6)
        for i in range(sold):
            at = now + 6 * HOUR + 40 * HOUR * (i / (sold - 1))
            self._schedule(self._activation(at, seller, rng.choice(pop.MNOS), "online"))
        self._expect(("bulk_sim_opener", "identity", seller.identity))
        if sold + 1 > 5:
            self._expect(("watchlisted_identity", "identity", seller.identity))
        places = rng.sample(pop.BANKS, k=3)
        accounts = [self._new_account(place) for place in places]
        for i, account in enumerate(accounts):
            at = now + DAY + i * 12 * HOUR
            self._schedule(self._account_open(at, farmer, account, "personal"))
        self._expect(("bulk_account_opener", "identity", farmer.identity))
        relay = self._new_account(rng.choice(pop.BANKS))
        opened = now + DAY
        self._schedule(self._account_open(opened, relay_holder, relay, "personal", msisdn=lent))
        self._expect(("borrowed_phone", "msisdn", lent))
        self._collect(accounts[0], relay, now + timedelta(days=rng.uniform(3, 5)))

    def _appealed_opener(self, now: datetime) -> None:
        """Someone activates 5 SIMs at 2-3 carriers within 1-72 hours (for a family, say):
        `bulk_sim_opener` alerts and duanka lists them. The carrier of the fifth finds it
        was no card selling, 1-3 days later (an appeal; some carriers first send it with a
        mistyped alert id), and 8-20 days after that the person activates a SIM or opens an
        account again: nothing to alert, the listing was lifted."""
        rng = self._rng
        who = self._person()
        carriers = rng.sample(pop.MNOS, k=rng.randint(2, 3))
        span = timedelta(hours=rng.uniform(1, 72))
        activations = [
            self._activation(now + span * (i / 4), who, carriers[i % len(carriers)], "store")
            for i in range(5)
        ]
        for activation in activations:
            self._schedule(activation)
        self._expect(("bulk_sim_opener", "identity", who.identity))
        if not self.config.dispositions:
            return
        fifth = activations[-1]
        opener = self._alert_of("bulk_sim_opener", "identity", who.identity, fifth)
        decided = fifth.at + timedelta(days=rng.uniform(1, 3))
        carrier = carriers[4 % len(carriers)]
        if rng.random() < MISTYPED_SHARE:
            mistyped = opener[:-1] + ("0" if opener[-1] != "0" else "1")
            self._schedule(self._disposition(decided - MINUTE, mistyped, carrier, "false_positive"))
        self._schedule(self._disposition(decided, opener, carrier, "false_positive"))
        self._return(who, decided, timedelta(days=8), timedelta(days=20))

    def _borrowed_phone(self, now: datetime) -> None:
        """Someone activates a number; within 1-20 days another identity opens an account
        with it."""
        owner, holder = self._person(), self._person()
        carrier = self._rng.choice(pop.MNOS)
        number = pop.mobile_number(self._rng)
        self._schedule(self._activation(now, owner, carrier, "store", msisdn=number))
        self._schedule(
            self._account_open(
                now + timedelta(days=self._rng.uniform(1, 20)),
                holder,
                self._new_account(self._rng.choice(pop.BANKS)),
                "personal",
                msisdn=number,
            )
        )
        self._expect(("borrowed_phone", "msisdn", number))

    def _returner(self, now: datetime) -> None:
        """An authority's listing, then 1-2 activations or account openings."""
        who = self._person()
        listed_at = now - timedelta(days=self._rng.uniform(10, 400))
        expires_at = listed_at + timedelta(days=5 * 365)
        self._schedule(
            self._listing(now, who, listed_at, expires_at, "sold SIM cards to a fraud ring")
        )
        self._return(who, now, timedelta(hours=1), timedelta(hours=48))
        self._expect(("watchlisted_identity", "identity", who.identity))

    def _return(self, who: pop.Person, now: datetime, after: timedelta, within: timedelta) -> None:
        """1-2 activations or account openings by `who`, between `after` and `within` from
        `now`."""
        for _ in range(self._rng.randint(1, 2)):
            at = now + after + (within - after) * self._rng.random()
            if self._rng.random() < 0.5:
                self._schedule(self._activation(at, who, self._rng.choice(pop.CARRIERS), "store"))
            else:
                bank = self._rng.choice(pop.BANKS)
                self._schedule(self._account_open(at, who, self._new_account(bank), "personal"))

    def _listing(
        self,
        at: datetime,
        who: pop.Person,
        listed_at: datetime,
        expires_at: datetime | None,
        reason: str,
    ) -> SimulatedMessage:
        value: dict[str, Any] = {
            "identity": who.identity,
            "reason": f"{reason}; simulated case",
            "listed_at": listed_at.isoformat(),
            "source": pop.AUTHORITY,
        }
        if expires_at is not None:
            value["expires_at"] = expires_at.isoformat()
        return SimulatedMessage(at, "watchlist", who.identity, value)

    # -- near misses: each one step short of a threshold -----------------------------------

    def _near_card_farmer(self, now: datetime) -> None:
        who = self._person()
        if self._rng.random() < 0.5:
            times = sorted(now + timedelta(days=self._rng.uniform(0, 6.9)) for _ in range(4))
        else:
            times = [now + 2 * DAY * i for i in range(5)]
        for at in times:
            self._schedule(self._activation(at, who, self._rng.choice(pop.CARRIERS), "store"))

    def _near_account_farmer(self, now: datetime) -> None:
        who = self._person()
        for i in range(2):
            self._schedule(
                self._account_open(now + i * DAY, who, self._new_account(pop.BANKS[i]), "personal")
            )

    def _near_shell_companies(self, now: datetime) -> None:
        who, same = self._person(), pop.company(self._rng)
        for i in range(2):
            self._schedule(
                self._account_open(
                    now + i * 3 * DAY,
                    who,
                    self._new_account(pop.BANKS[i]),
                    "corporate",
                    company=same,
                )
            )

    def _near_sim_farm(self, now: datetime) -> None:
        modem = pop.device(self._rng)
        for i in range(4):
            self._schedule(
                self._activation(
                    now + i * HOUR, self._person(), "iot-linkup", "agent", on_device=modem
                )
            )

    def _near_fan_in(self, now: datetime) -> None:
        target = self._new_account(self._rng.choice(pop.BANKS))
        for i in range(9):
            self._schedule(self._transfer(now + i * HOUR, self._personal(), target, 20_000))

    def _near_pass_through(self, now: datetime) -> None:
        account = self._new_account(self._rng.choice(pop.BANKS))
        self._schedule(self._transfer(now, self._personal(), account, 499_999))
        self._schedule(self._transfer(now + 10 * MINUTE, account, self._personal(), 499_000))

    def _own_phone(self, now: datetime) -> None:
        who = self._person()
        carrier = self._rng.choice(pop.MNOS)
        number = pop.mobile_number(self._rng)
        self._schedule(self._activation(now, who, carrier, "store", msisdn=number))
        self._schedule(
            self._account_open(now + DAY, who, self._new_account("icbc"), "personal", msisdn=number)
        )

    def _lifted_listing(self, now: datetime) -> None:
        """An authority lists someone without an end, lifts the listing (a tombstone) 1-60
        minutes later, on appeal, and days to weeks later the person activates SIMs or
        opens accounts again: nothing to alert, the listing was lifted before."""
        who = self._person()
        listed_at = now - timedelta(days=self._rng.uniform(1, 30))
        self._schedule(self._listing(now, who, listed_at, None, "appeal pending"))
        lifted = now + timedelta(minutes=self._rng.uniform(1, 60))
        self._schedule(SimulatedMessage(lifted, "watchlist", who.identity, None))
        self._return(who, now, timedelta(days=2), timedelta(days=21))

    # -- messages ---------------------------------------------------------------------------

    def _expect(self, truth: Truth) -> None:
        """What the running injection must make duanka alert, filed under it."""
        self.truth.add(truth)
        self.gangs[(truth[1], truth[2])] = self._gang

    def _expect_alert(
        self,
        rule: RuleName,
        kind: SubjectKind,
        id: str,
        trigger: SimulatedMessage,
        flag: str | None,
    ) -> None:
        """An alert the running injection must raise at `trigger`, naming `flag`."""
        self._expect((rule, kind, id))
        expected = self._alert_of(rule, kind, id, trigger)
        self.expected.append(ExpectedAlert(rule, kind, id, expected, flag))

    def _alert_of(
        self, rule: RuleName, kind: SubjectKind, id: str, trigger: SimulatedMessage
    ) -> str:
        """The id of the alert `trigger` raises."""
        assert trigger.value is not None
        source, event_id = str(trigger.value["source"]), str(trigger.value["event_id"])
        return alert_id(rule, Subject(kind=kind, id=id), source, event_id)

    def _schedule(self, message: SimulatedMessage) -> None:
        heapq.heappush(self._queue, (message.at, next(self._order), message))

    def _person(self) -> pop.Person:
        return pop.person(next(self._fresh))

    def _new_account(self, institution: str) -> str:
        return f"{institution}:n{next(self._fresh):012d}"

    def _event_id(self, source: str) -> str:
        return f"{source}-{next(self._event_ids):010d}"

    def _activation(
        self,
        at: datetime,
        who: pop.Person,
        carrier: str,
        channel: str,
        on_device: str | None = None,
        msisdn: str | None = None,
    ) -> SimulatedMessage:
        rng = self._rng
        value: dict[str, Any] = {
            "event_id": self._event_id(carrier),
            "occurred_at": at.isoformat(timespec="milliseconds"),
            "source": carrier,
            "identity": who.identity,
            "msisdn": msisdn or pop.mobile_number(rng),
            "sim_kind": pop.sim_kind(carrier),
            "channel": channel,
            "outlet": pop.outlet(rng, carrier),
            "device": on_device or pop.device(rng),
        }
        return SimulatedMessage(at, "sim-activations", who.identity, value)

    def _account_open(
        self,
        at: datetime,
        who: pop.Person,
        account: str,
        kind: str,
        company: str | None = None,
        msisdn: str | None = None,
    ) -> SimulatedMessage:
        institution = account.split(":", 1)[0]
        value: dict[str, Any] = {
            "event_id": self._event_id(institution),
            "occurred_at": at.isoformat(timespec="milliseconds"),
            "source": institution,
            "identity": who.identity,
            "account": account,
            "account_kind": kind,
            "channel": self._rng.choice(("counter", "online", "mobile")),
        }
        if kind == "corporate":
            value["company"] = company or pop.company(self._rng)
        if msisdn is not None:
            value["msisdn"] = msisdn
        return SimulatedMessage(at, "account-opens", who.identity, value)

    def _disposition(
        self, at: datetime, alert: str, institution: str, outcome: str
    ) -> SimulatedMessage:
        value: dict[str, Any] = {
            "alert_id": alert,
            "institution": institution,
            "outcome": outcome,
            "note": f"{outcome.replace('_', ' ')}; simulated case",
            "decided_at": at.isoformat(timespec="milliseconds"),
        }
        return SimulatedMessage(at, "dispositions", alert, value)

    def _transfer(
        self, at: datetime, sender: str, receiver: str, amount: int, channel: str = "mobile"
    ) -> SimulatedMessage:
        source = sender.split(":", 1)[0]
        value: dict[str, Any] = {
            "event_id": self._event_id(source),
            "occurred_at": at.isoformat(timespec="milliseconds"),
            "source": source,
            "from_account": sender,
            "to_account": receiver,
            "from_institution": source,
            "to_institution": receiver.split(":", 1)[0],
            "amount_minor": amount,
            "currency": "CNY",
            "channel": channel,
        }
        return SimulatedMessage(at, "transfers", sender, value)
