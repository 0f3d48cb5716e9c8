"""`duanka alerts`: follow the alerts topic and print what institutions would act on."""

import sys

from aiokafka import AIOKafkaConsumer

from schemas.alerts import Alert
from schemas.codec import DecodeError, decode
from services.settings import Settings

_SEVERITY_MARK = {"critical": "!!!", "high": "!! ", "medium": "!  "}


def one_line(alert: Alert) -> str:
    """`HH:MM:SS !! bulk_sim_opener identity 3fa2…: summary` for a terminal."""
    return (
        f"{alert.detected_at:%H:%M:%S} {_SEVERITY_MARK[alert.severity]} "
        f"{alert.severity:<8} {alert.rule:<22} {alert.summary}"
    )


async def tail(settings: Settings, *, from_beginning: bool, as_json: bool) -> None:
    """Print alerts until interrupted. Uses no consumer group: it never moves offsets."""
    consumer = AIOKafkaConsumer(
        settings.topic("alerts"),
        **settings.kafka_client_options(),
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        async for message in consumer:
            if as_json:
                print(message.value.decode(), flush=True)
                continue
            try:
                print(one_line(decode(Alert, message.value)), flush=True)
            except DecodeError as exc:
                print(f"unreadable alert at offset {message.offset}: {exc}", file=sys.stderr)
    finally:
        await consumer.stop()
