"""Identity tokens: raw ID numbers never enter Kafka.

Producers turn a national ID number into `HMAC-SHA256(consortium key, normalised number)`,
lowercase hex. Everyone who shares the consortium key gets the same token for the same
person, and nobody without the key can reverse it. 18-character resident ID numbers
(GB 11643-1999) are checked against their check digit first, so that a typo does not become
a different person.
"""

import hashlib
import hmac
import re
import unicodedata

_GB11643_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_GB11643_CHECK = "10X98765432"
_RESIDENT_ID = re.compile(r"^[0-9]{17}[0-9X]$")
_RESIDENT_ID_CHARACTERS = set("0123456789X")
_OTHER_ID = re.compile(r"^[0-9A-Z()\-/]{5,32}$")
MIN_KEY_BYTES = 16


class IdNumberError(ValueError):
    """The ID number is malformed or fails its check digit."""


def normalise(id_number: str) -> str:
    """Full-width to ASCII, drop spaces, upper-case (`x` check digits are common)."""
    folded = unicodedata.normalize("NFKC", id_number)
    return re.sub(r"\s+", "", folded).upper()


def gb11643_check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _GB11643_WEIGHTS, strict=True))
    return _GB11643_CHECK[total % 11]


def validate(id_number: str) -> str:
    """Return the normalised number, or raise `IdNumberError` saying what is wrong.

    Resident ID numbers (18 characters, 17 digits and a check character) must pass the check
    digit. Other documents (passports, permits) must be 5-32 characters of [0-9A-Z()-/].
    """
    number = normalise(id_number)
    if len(number) == 18 and set(number) <= _RESIDENT_ID_CHARACTERS:
        if not _RESIDENT_ID.match(number):
            raise IdNumberError("a resident ID number is 17 digits and a digit or X")
        expected = gb11643_check_digit(number[:17])
        if number[17] != expected:
            raise IdNumberError(
                f"check digit of the resident ID number is {number[17]}, expected {expected}"
            )
        return number
    if not _OTHER_ID.match(number):
        raise IdNumberError(
            "not an ID number: expected 18 characters (resident ID) or 5-32 of [0-9A-Z()-/]"
        )
    return number


def pseudonymize(id_number: str, key: bytes) -> str:
    """The identity token of an ID number under the consortium key."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the pseudonym key must be at least {MIN_KEY_BYTES} bytes")
    number = validate(id_number)
    return hmac.new(key, number.encode("ascii"), hashlib.sha256).hexdigest()
