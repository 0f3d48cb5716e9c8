"""The worker's own Prometheus metrics, next to Faust's sensor metrics on `GET /metrics`.

Names follow Prometheus conventions (base units, `_total` for counters, `_seconds` for
durations). Label values are topic names, rule names, subject kinds, outcomes and dead
letter reasons: never an identity, number, account or device.
"""

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds; the objective is an alert within 500 ms of the event reaching Kafka."""
PROCESSING_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0)
FAUST_PREFIX = "faust"
"""Prefix of Faust's sensor metrics, fixed so that dashboards do not depend on the app id."""


@dataclass(frozen=True, slots=True)
class Metrics:
    """One worker's metrics, in a registry of its own (tests build several workers)."""

    registry: CollectorRegistry
    events: Counter
    """`topic`, `outcome`: ok or invalid when read from an input topic; late or duplicate
    for each subject the event was not counted for."""
    alerts: Counter
    cases: Counter
    """`status`: case records published, by the status they carry."""
    dispositions: Counter
    """`rule`, `outcome`: institutions' dispositions of alerts, each counted once."""
    dispositions_held: Gauge
    """Dispositions the case linker holds for alerts it has not linked yet."""
    dead_letters: Counter
    latency: Histogram
    processing: Histogram
    state_keys: Gauge
    expiry_requests: Counter
    watchlisted: Gauge
    held: Gauge
    input_paused: Gauge
    """1 while ingest's input is not fetched (`ingest_throttle`)."""
    input_pauses: Counter
    released: Counter
    """`reason`: why held events were let go (`core.ordering.Reason`), or given_up when
    their partition was given up first (they are read again by its next holder)."""


def create_metrics() -> Metrics:
    """A fresh registry holding every duanka metric."""
    registry = CollectorRegistry()
    return Metrics(
        registry=registry,
        events=Counter(
            "duanka_events_consumed",
            "Input events by topic and outcome (ok, invalid; late, duplicate per subject).",
            ["topic", "outcome"],
            registry=registry,
        ),
        alerts=Counter(
            "duanka_alerts",
            "Alerts published, by rule and severity.",
            ["rule", "severity"],
            registry=registry,
        ),
        cases=Counter(
            "duanka_case_records",
            "Case records published, by status (open, confirmed, closed; merged into another).",
            ["status"],
            registry=registry,
        ),
        dispositions=Counter(
            "duanka_dispositions",
            "Institutions' dispositions of alerts, by the alert's rule and the outcome.",
            ["rule", "outcome"],
            registry=registry,
        ),
        dispositions_held=Gauge(
            "duanka_dispositions_held",
            "Dispositions the case linker holds for alerts not linked yet (this worker, if it "
            "holds the linker).",
            registry=registry,
        ),
        dead_letters=Counter(
            "duanka_dead_letters",
            "Messages written to dead-letters, by reason.",
            ["reason"],
            registry=registry,
        ),
        latency=Histogram(
            "duanka_event_to_alert_latency_seconds",
            "From the input message's Kafka timestamp to its alert being produced.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        processing=Histogram(
            "duanka_batch_processing_seconds",
            "Time to process one batch of messages in an agent (a batch is one message).",
            ["agent"],
            buckets=PROCESSING_BUCKETS,
            registry=registry,
        ),
        state_keys=Gauge(
            "duanka_state_keys",
            "Subjects held in this worker's tables, counted at each expiry sweep.",
            ["kind"],
            registry=registry,
        ),
        expiry_requests=Counter(
            "duanka_expiry_requests",
            "Quiet subjects asked to be trimmed or deleted by the expiry sweep.",
            ["kind"],
            registry=registry,
        ),
        watchlisted=Gauge(
            "duanka_watchlisted_identities",
            "Identities with a watchlist entry held by this worker, counted at each sweep.",
            registry=registry,
        ),
        held=Gauge(
            "duanka_held_events",
            "Subject events waiting for their turn in event-time order.",
            registry=registry,
        ),
        input_paused=Gauge(
            "duanka_input_paused",
            "1 while the input is not fetched: the worker's own stages have much left to read.",
            registry=registry,
        ),
        input_pauses=Counter(
            "duanka_input_pauses",
            "Times the input stopped being fetched for the worker's own stages to catch up.",
            registry=registry,
        ),
        released=Counter(
            "duanka_released_events",
            "Held subject events let go, by reason: in_order (every origin brought newer "
            "events), written (some origin passed them by write time: quiet, or its "
            "markers), given_up (partition given up first, to be read again).",
            ["reason"],
            registry=registry,
        ),
    )
