"""What operators and institutions see of a running worker: `/metrics` with duanka's and
Faust's metrics and no personal data, and the query API behind a bearer token."""

import asyncio
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from duanka.detector.core.alerting import alert_id
from duanka.detector.core.policy import Policy
from duanka.schemas.alerts import Alert, DeadLetter, Subject
from duanka.schemas.cases import Case
from duanka.schemas.codec import decode, encode
from duanka.schemas.dispositions import Disposition
from duanka.schemas.events import WatchlistEntry
from tests.deploy.conftest import DEPLOY
from tests.factories import T0, activation, alerts_in_order, identity, transfer
from tests.integration.conftest import (
    Kafka,
    RunningWorker,
    module_worker,
    start_worker,
    stop_worker,
)
from tests.integration.test_worker import START, burst, of, produce

pytestmark = pytest.mark.integration

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(scope="module")
def api_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorker]:
    yield from module_worker(
        tmp_path_factory, "api-worker", DUANKA_API_TOKEN=TOKEN, DUANKA_EXPIRY_INTERVAL="PT1S"
    )


def get(worker: RunningWorker, path: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{worker.port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def sample(metrics: bytes, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text exposition; 0 when absent."""
    for family in text_string_to_metric_families(metrics.decode()):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return 0.0


async def metrics_until(worker: RunningWorker, name: str, at_least: float, **labels: str) -> bytes:
    deadline = time.monotonic() + 60
    while True:
        status, body = await asyncio.to_thread(get, worker, "/metrics")
        assert status == 200
        if sample(body, name, **labels) >= at_least or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.5)


async def test_metrics_count_events_alerts_and_dead_letters_without_personal_data(
    kafka: Kafka, api_worker: RunningWorker
) -> None:
    farmer = burst("metered-farmer", 5)
    await produce(kafka, api_worker, farmer)
    await kafka.send(api_worker.topic("sim-activations"), b"{not json", key="k")
    # counters only grow: once each has been seen, the last scrape shows them all
    await metrics_until(
        api_worker, "duanka_alerts_total", 1, rule="bulk_sim_opener", severity="high"
    )
    await metrics_until(api_worker, "duanka_dead_letters_total", 1, reason="not_json")
    await metrics_until(
        api_worker, "duanka_events_consumed_total", 1, topic="watchlist", outcome="ok"
    )
    # a sweep may have counted before the burst was complete: wait for one after it
    body = await metrics_until(api_worker, "duanka_watchlisted_identities", 1)
    assert sample(body, "duanka_state_keys", kind="identity") >= 1
    assert sample(body, "duanka_alerts_total", rule="bulk_sim_opener", severity="high") >= 1
    assert sample(body, "duanka_dead_letters_total", reason="not_json") == 1
    ok = sample(body, "duanka_events_consumed_total", topic="sim-activations", outcome="ok")
    invalid = sample(
        body, "duanka_events_consumed_total", topic="sim-activations", outcome="invalid"
    )
    assert (ok, invalid) == (5, 1)
    assert sample(body, "duanka_event_to_alert_latency_seconds_count") >= 1
    listed = sample(body, "duanka_events_consumed_total", topic="watchlist", outcome="ok")
    assert listed == 1  # the farmer's self-listing, read back from `watchlist`
    batches = sample(body, "duanka_batch_processing_seconds_count", agent="ingest")
    assert batches >= 1  # the 7 input messages and the markers, in batches
    reasons = ("in_order", "written")
    released = sum(sample(body, "duanka_released_events_total", reason=r) for r in reasons)
    assert released >= 5  # each activation, to its identity at least, in event-time order
    assert b"faust_topic_partition_end_offset" in body
    assert b"faust_consumer_commit_latency" in body
    for personal in (identity("metered-farmer"), farmer[0].msisdn):
        assert personal.encode() not in body


async def test_the_query_api_needs_the_token_and_answers_from_the_key_s_state(
    kafka: Kafka, api_worker: RunningWorker
) -> None:
    farmer = burst("queried-farmer", 5)
    await produce(kafka, api_worker, farmer)
    await kafka.alerts(api_worker, lambda a: len(of("queried-farmer", a)) >= 1)
    path = f"/identities/{identity('queried-farmer')}"

    assert get(api_worker, path)[0] == 401
    assert get(api_worker, path, token="wrong-token-0123456789")[0] == 401
    status, body = get(api_worker, path, token=TOKEN)
    assert status == 200, body
    state = orjson.loads(body)
    assert state["id"] == identity("queried-farmer")
    assert state["windows"]["bulk_sim_opener"]["events"] == 5
    assert state["watchlist"] is not None
    assert [a["rule"] for a in state["recent_alerts"]][:1] == ["bulk_sim_opener"]

    # each subject applies the events in event-time order on its own: the number's state
    # may come a moment after the identity's alert
    status, body = await answered(api_worker, f"/msisdns/{farmer[0].msisdn}")
    assert status == 200, body
    assert get(api_worker, f"/identities/{identity('nobody')}", token=TOKEN)[0] == 404
    assert get(api_worker, "/healthz")[0] == 200

    status, body = await answered(
        api_worker, f"/cases?entity=identity:{identity('queried-farmer')}"
    )
    assert status == 200, body
    case = orjson.loads(body)
    assert case["status"] == "open" and identity("queried-farmer") in case["members"]["identities"]
    assert case["rules"]["bulk_sim_opener"] == 1
    status, body = get(api_worker, f"/cases/{case['case_id']}", token=TOKEN)
    assert status == 200 and orjson.loads(body)["alerts"] == case["alerts"]
    assert get(api_worker, f"/cases/{case['case_id']}")[0] == 401
    assert get(api_worker, f"/cases/{'0' * 32}", token=TOKEN)[0] == 404
    assert get(api_worker, "/cases?entity=planet:earth", token=TOKEN)[0] == 400


async def test_an_outlet_answers_with_the_alerts_naming_it(
    kafka: Kafka, api_worker: RunningWorker
) -> None:
    shop = "cmcc.outlet-0042"
    farmer = [
        activation("outlet-farmer", START + timedelta(minutes=10 * i), n=i + 1, outlet=shop)
        for i in range(5)
    ]
    await produce(kafka, api_worker, farmer)
    await kafka.alerts(api_worker, lambda a: len(of("outlet-farmer", a)) >= 1)
    status, body = await answered(api_worker, f"/outlets/{shop}")
    assert status == 200, body
    answer = orjson.loads(body)
    assert answer["identities"] == [identity("outlet-farmer")]
    assert [a["rule"] for a in answer["alerts"]] == ["bulk_sim_opener"]
    assert len(answer["cases"]) == 1
    assert get(api_worker, f"/outlets/{shop}")[0] == 401
    assert get(api_worker, "/outlets/nowhere", token=TOKEN)[0] == 404


async def answered(worker: RunningWorker, path: str) -> tuple[int, bytes]:
    """The query API's answer for `path` once it is not 404, or the last after 30 s."""
    deadline = time.monotonic() + 30
    while True:
        status, body = await asyncio.to_thread(get, worker, path, TOKEN)
        if status != 404 or time.monotonic() > deadline:
            return status, body
        await asyncio.sleep(0.2)


def metrics_used_by_the_dashboard_and_the_rules() -> set[str]:
    texts = [
        (DEPLOY / "grafana" / "duanka.json").read_text(),
        (DEPLOY / "prometheus" / "rules.yml").read_text(),
    ]
    return {name for text in texts for name in re.findall(r"\b(?:duanka|faust)_\w+", text)}


async def test_the_dashboard_and_the_rules_use_only_metrics_the_worker_exposes(
    kafka: Kafka, api_worker: RunningWorker
) -> None:
    await produce(kafka, api_worker, burst("dashboard-farmer", 5))
    body = await metrics_until(api_worker, "duanka_event_to_alert_latency_seconds_count", 1)
    exposed = set()
    for family in text_string_to_metric_families(body.decode()):
        exposed |= {family.name, *(s.name for s in family.samples)}
        if family.type == "counter":  # declared, if nothing is counted yet
            exposed.add(f"{family.name}_total")
    used = metrics_used_by_the_dashboard_and_the_rules()
    assert {"duanka_alerts_total", "faust_topic_partition_end_offset"} <= used
    assert sorted(used - exposed) == []


async def test_any_worker_answers_for_any_key(
    kafka: Kafka, api_worker: RunningWorker, tmp_path: Path
) -> None:
    """With two workers sharing the partitions, each answers for every key: the one that
    does not hold it forwards the request to the one that does."""
    farmers = [f"routed-farmer-{i}" for i in range(6)]
    for farmer in farmers:
        await produce(kafka, api_worker, burst(farmer, 5))
    await kafka.alerts(api_worker, lambda a: all(of(f, a) for f in farmers))
    second = start_worker(
        api_worker.prefix, tmp_path / "data", tmp_path / "worker.log", DUANKA_API_TOKEN=TOKEN
    )
    try:
        deadline = time.monotonic() + 90
        while not (api_worker.ready() and second.ready()):
            assert time.monotonic() < deadline, second.log_tail()
            await asyncio.sleep(0.5)
        for farmer in farmers:
            path = f"/identities/{identity(farmer)}"
            answers = [await asyncio.to_thread(get, w, path, TOKEN) for w in (api_worker, second)]
            assert [status for status, _ in answers] == [200, 200], answers
            assert answers[0][1] == answers[1][1]
            path = f"/cases?entity=identity:{identity(farmer)}"
            answers = [await asyncio.to_thread(get, w, path, TOKEN) for w in (api_worker, second)]
            assert [status for status, _ in answers] == [200, 200], answers
            cases = [orjson.loads(body) for _, body in answers]
            assert cases[0]["case_id"] == cases[1]["case_id"]
            assert cases[0]["alerts"] == cases[1]["alerts"]
    finally:
        stop_worker(second)


async def test_dispositions_set_the_case_status_are_counted_and_bad_ones_dead_lettered(
    kafka: Kafka, api_worker: RunningWorker
) -> None:
    """A carrier confirms a bulk opener's alert: its case turns `confirmed`, and the metrics
    count it once though it arrives twice. A carrier's decision on an alert not raised yet
    is held until it is. A second, different decision by the same carrier, and one about an
    alert not raised by the time alerts reach the grace past its decision, end in
    `dead-letters`, at their place in `dispositions`."""
    consumed = {"topic": "dispositions", "outcome": "ok"}
    _, metrics = await asyncio.to_thread(get, api_worker, "/metrics")
    consumed_before = sample(metrics, "duanka_events_consumed_total", **consumed)
    later = burst("later-farmer", 6)
    fifth = later[4]  # the activation that makes five: bulk_sim_opener's trigger
    later_opener = alert_id(
        "bulk_sim_opener", Subject(kind="identity", id=fifth.identity), fifth.source, fifth.event_id
    )
    ahead = Disposition(
        alert_id=later_opener, institution="cmcc", outcome="confirmed", decided_at=START
    )
    await kafka.send(api_worker.topic("dispositions"), encode(ahead), key=later_opener, partition=1)
    held = await metrics_until(api_worker, "duanka_dispositions_held", 1)
    assert sample(held, "duanka_dispositions_held") == 1
    farmer = burst("disposed-farmer", 6)
    await produce(kafka, api_worker, [*farmer, *later])
    found = await kafka.alerts(api_worker, lambda a: bool(opener_of("disposed-farmer", a)))
    [opener] = {
        a.alert_id: a for a in opener_of("disposed-farmer", found)
    }.values()  # maybe sent twice
    confirmed = {
        "alert_id": opener.alert_id,
        "institution": "cmcc",
        "outcome": "confirmed",
        "decided_at": START.isoformat(),
    }
    unknown = "f" * 32
    long_before = T0 - Policy().disposition_grace - timedelta(days=365)  # behind every alert
    topic = api_worker.topic("dispositions")
    offsets = [
        await kafka.send(topic, value, key=str(value["alert_id"]), partition=0)
        for value in (
            confirmed,
            confirmed,  # read again: the same decision
            {**confirmed, "outcome": "false_positive"},  # decided already
            {**confirmed, "alert_id": unknown, "decided_at": long_before.isoformat()},
        )  # no such alert, nor coming
    ]

    def from_dispositions(values: list[bytes]) -> list[DeadLetter]:
        letters = [decode(DeadLetter, v) for v in values]
        return [letter for letter in letters if letter.topic == topic]

    raws = await kafka.read_until(
        api_worker.topic("dead-letters"), lambda vs: len(from_dispositions(vs)) >= 2
    )
    letters = from_dispositions(raws)
    assert sorted((letter.offset, letter.reason) for letter in letters) == [
        (offsets[2], "repeated_disposition"),
        (offsets[3], "unknown_alert"),
    ]
    assert all(letter.partition == 0 for letter in letters)

    def confirmed_cases(values: list[bytes]) -> bool:
        cases = [decode(Case, v) for v in values]
        confirmed = {a for c in cases if c.status == "confirmed" for a in c.alerts}
        return {opener.alert_id, later_opener} <= confirmed

    await kafka.read_until(api_worker.topic("cases"), confirmed_cases)
    body = await metrics_until(
        api_worker, "duanka_dispositions_total", 2, rule="bulk_sim_opener", outcome="confirmed"
    )
    assert (
        sample(body, "duanka_dispositions_total", rule="bulk_sim_opener", outcome="confirmed") == 2
    )
    assert sample(body, "duanka_case_records_total", status="confirmed") >= 2
    assert sample(body, "duanka_dispositions_held") == 0  # the one written ahead was taken
    # at least: a disposition another test wrote may have been counted since
    assert sample(body, "duanka_events_consumed_total", **consumed) >= consumed_before + 5


def opener_of(who: str, alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.rule == "bulk_sim_opener" and a.subject.id == identity(who)]


async def test_a_confirmed_mule_alert_flags_the_account_in_the_worker_as_in_replay(
    kafka: Kafka, api_worker: RunningWorker
) -> None:
    """A collector's fan-in flag has run out when a payment comes in; the bank then confirms
    the fan-in alert as fraud, from before that payment: the worker warns the payment, as
    replay does for the same messages, naming the confirmed alert."""
    collector = "icbc:confirmed-collector"
    victims = [
        transfer(f"cv-{n}", collector, 20_000, T0 + n * timedelta(hours=1), n=n) for n in range(10)
    ]
    ttl = Policy().payment_to_flagged.flag_ttl
    decided = T0 + ttl + timedelta(days=1)
    late_payment = transfer("cv-late", collector, 5_000, decided + timedelta(hours=1), n=99)
    for event in [*victims, late_payment]:
        await kafka.send(api_worker.topic("transfers"), encode(event), key=event.from_account)

    def about_collector(rule: str) -> Callable[[list[Alert]], list[Alert]]:
        return lambda found: [a for a in found if a.rule == rule and a.subject.id == collector]

    fan_ins = about_collector("mule_fan_in")
    [fan_in] = {a.alert_id: a for a in fan_ins(await kafka.alerts(api_worker, fan_ins))}.values()
    confirmation = Disposition(
        alert_id=fan_in.alert_id, institution="icbc", outcome="confirmed", decided_at=decided
    )
    await kafka.send(api_worker.topic("dispositions"), encode(confirmation), key=fan_in.alert_id)
    replayed = alerts_in_order([*victims, late_payment, confirmation])
    [expected] = [a for a in replayed if a.trigger_event_id == late_payment.event_id]
    warned = about_collector("payment_to_flagged")

    def late_warning(found: list[Alert]) -> list[Alert]:
        return [a for a in warned(found) if a.trigger_event_id == late_payment.event_id]

    [found] = {
        a.alert_id: a for a in late_warning(await kafka.alerts(api_worker, late_warning))
    }.values()
    assert found.model_dump(exclude={"detected_at"}) == expected.model_dump(exclude={"detected_at"})
    assert found.evidence.flag_alert_id == fan_in.alert_id


async def test_a_false_positive_on_a_self_listing_alert_puts_a_tombstone_on_the_watchlist(
    kafka: Kafka, api_worker: RunningWorker
) -> None:
    """The appeal path: a carrier finds the bulk opener's alert behind duanka's listing of a
    person a false positive, and the worker lifts the listing with a tombstone."""
    who = "appealed-farmer"
    await produce(kafka, api_worker, burst(who, 6))
    found = await kafka.alerts(api_worker, lambda a: bool(opener_of(who, a)))
    [opener] = {a.alert_id: a for a in opener_of(who, found)}.values()
    decided = opener.window.end + timedelta(hours=1)  # a decision comes after its alert
    cleared = Disposition(
        alert_id=opener.alert_id, institution="cmcc", outcome="false_positive", decided_at=decided
    )
    await kafka.send(api_worker.topic("dispositions"), encode(cleared), key=opener.alert_id)
    key = identity(who).encode()

    def listed_then_lifted(records: list[tuple[bytes | None, bytes | None]]) -> bool:
        values = [value for k, value in records if k == key]
        return len(values) >= 2 and values[-1] is None

    records = await kafka.read_records_until(api_worker.topic("watchlist"), listed_then_lifted)
    values = [value for k, value in records if k == key]
    assert listed_then_lifted(records), values
    [listed] = [decode(WatchlistEntry, v) for v in values if v is not None]
    assert listed.source == "duanka" and listed.reason == "bulk_sim_opener detected by duanka"
