"""Dispositions: what an institution did about an alert (contract version 2). Banks and
carriers write them to the `dispositions` input topic, keyed by the alert's id; duanka
counts them per rule and outcome (the field's precision of each rule), and sets the status
of the alert's case from them."""

from typing import Annotated, Literal

from pydantic import StringConstraints

from duanka.schemas.alerts import AlertId
from duanka.schemas.events import Message
from duanka.schemas.types import Code, Timestamp

DispositionOutcome = Literal["confirmed", "false_positive", "actioned"]
"""`confirmed`: the alert was fraud; `false_positive`: it was not; `actioned`: the
institution acted on it (blocked, froze, called) without a finding either way."""

Note = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class Disposition(Message):
    """One institution's decision on one alert. An institution decides once per alert."""

    alert_id: AlertId
    institution: Code
    outcome: DispositionOutcome
    note: Note | None = None
    decided_at: Timestamp
