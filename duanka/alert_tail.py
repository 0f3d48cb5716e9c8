"""`duanka alerts`: follow the alerts topic, and with `--cases` the cases topic, and print
what institutions would act on and the gangs as they form."""

import sys

from aiokafka import AIOKafkaConsumer

from duanka.schemas.alerts import Alert
from duanka.schemas.cases import Case
from duanka.schemas.codec import DecodeError, decode
from duanka.settings import Settings

_SEVERITY_MARK = {"critical": "!!!", "high": "!! ", "medium": "!  "}


def one_line(alert: Alert) -> str:
    """`HH:MM:SS !! bulk_sim_opener identity 3fa2…: summary` for a terminal."""
    return (
        f"{alert.detected_at:%H:%M:%S} {_SEVERITY_MARK[alert.severity]} "
        f"{alert.severity:<8} {alert.rule:<22} {alert.summary}"
    )


def case_line(case: Case, before: Case | None) -> str | None:
    """`HH:MM:SS ## case 7e62e3dd4577… formed: summary` when a case forms, grows, changes
    status or is merged into another; None when nothing an analyst would notice changed
    (the same record again, after a crash)."""
    if case.status == "merged":
        if before is not None and before.status == "merged":
            return None
        change = f"merged into case {case.merged_into}"
    elif before is None:
        change = "formed"
    elif case.alert_count > before.alert_count:
        change = "grew"
    elif case.status != before.status:
        change = f"is now {case.status}"
    else:
        return None
    return f"{case.updated_at:%H:%M:%S} ##  case {case.case_id[:12]}… {change}: {case.summary}"


async def tail(
    settings: Settings, *, from_beginning: bool, as_json: bool, cases: bool = False
) -> None:
    """Print alerts (and case changes) until interrupted. Uses no consumer group: it never
    moves offsets."""
    topics = [settings.topic("alerts")] + ([settings.topic("cases")] if cases else [])
    consumer = AIOKafkaConsumer(
        *topics,
        **settings.kafka_client_options(),
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
    )
    seen: dict[str, Case] = {}
    await consumer.start()
    try:
        async for message in consumer:
            if as_json:
                print(message.value.decode(), flush=True)
                continue
            try:
                if message.topic == topics[0]:
                    print(one_line(decode(Alert, message.value)), flush=True)
                    continue
                case = decode(Case, message.value)
                line = case_line(case, seen.get(case.case_id))
                seen[case.case_id] = case
                if line is not None:
                    print(line, flush=True)
            except DecodeError as exc:
                print(f"unreadable record at offset {message.offset}: {exc}", file=sys.stderr)
    finally:
        await consumer.stop()
