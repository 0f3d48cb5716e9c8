"""duanka's wire contract: the messages on every topic, as pydantic v2 models."""

from schemas.alerts import Action, Alert, DeadLetter, Evidence, Subject, Window
from schemas.codec import DecodeError, decode, encode
from schemas.events import AccountOpen, Event, SimActivation, Transfer, WatchlistEntry

__all__ = [
    "AccountOpen",
    "Action",
    "Alert",
    "DeadLetter",
    "DecodeError",
    "Event",
    "Evidence",
    "SimActivation",
    "Subject",
    "Transfer",
    "WatchlistEntry",
    "Window",
    "decode",
    "encode",
]
