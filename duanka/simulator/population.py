"""Synthetic people, numbers, accounts and institutions, with valid resident ID numbers.

People are generated from an index, so a population of millions costs nothing until a
person appears in an event, and the same seed always yields the same people.
"""

import random
from dataclasses import dataclass
from datetime import date, timedelta

from duanka.pseudonym import gb11643_check_digit, pseudonymize

SIMULATION_KEY = b"duanka-simulation-key-not-for-production"
"""The consortium key of simulated identities; real deployments use their own secret."""

REGIONS = ("110105", "310101", "440303", "510104", "330106", "420102", "610113", "210102")
MNOS = ("cmcc", "cucc", "ctcc", "cbn")
MVNOS = ("mvno-youxin", "mvno-snail")
IOT_RESELLERS = ("iot-linkup",)
CARRIERS = MNOS + MVNOS + IOT_RESELLERS
BANKS = ("icbc", "ccb", "abc", "boc", "cmb", "psbc")
PAYMENT_INSTITUTIONS = ("alipay", "tenpay")
AUTHORITY = "mps-afc"
_BIRTH_BASE = date(1955, 1, 1)
_BIRTH_DAYS = 18_000


@dataclass(frozen=True, slots=True)
class Person:
    """A simulated subscriber: the ID number stays here, only the token leaves."""

    index: int
    id_number: str
    identity: str


def person(index: int) -> Person:
    """The person with this index; distinct indices give distinct ID numbers."""
    sequence = index % 1000
    birth = _BIRTH_BASE + timedelta(days=(index // 1000) % _BIRTH_DAYS)
    region = REGIONS[(index // (1000 * _BIRTH_DAYS)) % len(REGIONS)]
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    id_number = first17 + gb11643_check_digit(first17)
    return Person(index, id_number, pseudonymize(id_number, SIMULATION_KEY))


def sim_kind(carrier: str) -> str:
    """The kind of SIM a carrier issues."""
    if carrier in IOT_RESELLERS:
        return "iot"
    return "mvno" if carrier in MVNOS else "mno"


def mobile_number(rng: random.Random) -> str:
    """A mobile number as carriers activate them (+86 13x-18x)."""
    return f"+861{rng.choice('345678')}{rng.randrange(10**9):09d}"


def registered_number(rng: random.Random) -> str:
    """A number people give when opening accounts, from a range the simulated carriers never
    activate (+86 199), so that ordinary openings never look like borrowed phones."""
    return f"+86199{rng.randrange(10**8):08d}"


def device(rng: random.Random) -> str:
    """A pseudonymous handset or modem token."""
    return f"imei:{rng.randrange(10**14):014d}"


def outlet(rng: random.Random, carrier: str) -> str:
    """A retail outlet or agent of the carrier."""
    return f"{carrier}.outlet-{rng.randrange(5000):04d}"


def company(rng: random.Random) -> str:
    """A unified social credit code token."""
    return f"91{rng.randrange(10**16):016d}"
