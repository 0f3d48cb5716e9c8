"""duanka's wire contract: the messages on every topic, as pydantic v2 models."""

from duanka.schemas.alerts import Action, Alert, DeadLetter, Evidence, Subject, Window
from duanka.schemas.codec import DecodeError, decode, encode
from duanka.schemas.events import AccountOpen, Event, SimActivation, Transfer, WatchlistEntry

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
