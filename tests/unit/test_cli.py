"""The `duanka` command's offline subcommands and its configuration errors."""

import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import orjson
import pytest

from duanka.cli import main
from duanka.detector.core.engine import RULES as RULES_RUN
from duanka.pseudonym import pseudonymize
from duanka.schemas.alerts import Alert, DeadLetter, RuleName
from duanka.schemas.cases import Case
from duanka.schemas.export import MESSAGES, SCHEMA_DIR, file_name
from tests.factories import activation

KEY = "consortium-key-for-tests"
RULES = tuple(get_args(RuleName))


def duanka(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "duanka", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        timeout=60,
    )


def test_pseudonymize_turns_lines_into_tokens() -> None:
    result = duanka(
        "pseudonymize", stdin="11010519491231002X\n440524188001010014\n", DUANKA_PSEUDONYM_KEY=KEY
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        pseudonymize("11010519491231002X", KEY.encode()),
        pseudonymize("440524188001010014", KEY.encode()),
    ]


def test_pseudonymize_reports_bad_lines_and_keeps_alignment() -> None:
    result = duanka(
        "pseudonymize", stdin="110105194912310021\n11010519491231002X\n", DUANKA_PSEUDONYM_KEY=KEY
    )
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["", pseudonymize("11010519491231002X", KEY.encode())]
    assert "line 1: check digit" in result.stderr


def test_pseudonymize_reads_the_key_from_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    result = duanka(
        "pseudonymize", stdin="11010519491231002X\n", DUANKA_PSEUDONYM_KEY_FILE=str(key_file)
    )
    assert result.stdout.strip() == pseudonymize("11010519491231002X", KEY.encode())


@pytest.mark.parametrize(
    ("env", "message"),
    [({}, "DUANKA_PSEUDONYM_KEY"), ({"DUANKA_PSEUDONYM_KEY": "short"}, "16 bytes")],
)
def test_pseudonymize_without_a_usable_key_fails_clearly(env: dict[str, str], message: str) -> None:
    result = duanka("pseudonymize", stdin="11010519491231002X\n", **env)
    assert result.returncode == 2
    assert message in result.stderr


def test_schemas_writes_one_file_per_message(tmp_path: Path) -> None:
    assert main(["schemas", "--out", str(tmp_path)]) == 0
    for model in MESSAGES:
        written = (tmp_path / file_name(model)).read_bytes()
        assert written == (SCHEMA_DIR / file_name(model)).read_bytes()
        assert orjson.loads(written)["title"] == model.__name__


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DUANKA_PARTITIONS", "0"),
        ("DUANKA_BROKER", "localhost:9092"),
        ("DUANKA_STORE", "redis://"),
        ("DUANKA_POLICY__BULK_SIM_OPENER__MIN_ACTIVATIONS", "1"),
        ("DUANKA_POLICY__BULK_SIM_OPENER__WINDOW", "P0D"),
        ("DUANKA_POLICY__BULK_SIM_OPENER__TRESHOLD", "5"),
        ("DUANKA_TOPIC_PREFIX", "has space"),
    ],
)
def test_invalid_settings_stop_with_a_clear_error(name: str, value: str) -> None:
    result = duanka("topics", **{name: value})
    assert result.returncode == 2
    assert "invalid configuration" in result.stderr
    assert name.removeprefix("DUANKA_").split("__")[-1].lower() in result.stderr.lower()


def test_a_default_simulation_file_ends_before_now_and_replays_clean(tmp_path: Path) -> None:
    history, truth = tmp_path / "history.jsonl", tmp_path / "truth.jsonl"
    alerts, letters = tmp_path / "alerts.jsonl", tmp_path / "dead.jsonl"
    began = datetime.now(UTC)
    simulated = duanka(
        "simulate",
        *("--events", "20000", "--seed", "3", "--injection-rate", "0.05"),
        *("--out", str(history), "--truth", str(truth)),
    )
    assert simulated.returncode == 0, simulated.stderr
    lines = [orjson.loads(line) for line in history.read_bytes().splitlines()]
    times = [
        datetime.fromisoformat(line["value"]["occurred_at"])
        for line in lines
        if line["value"] is not None and "occurred_at" in line["value"]
    ]
    assert max(times) <= began
    assert any(line["value"] is None for line in lines)  # lifted listings are in the mix
    cases = tmp_path / "cases.jsonl"
    replayed = duanka(
        "replay",
        *(str(history), "--out", str(alerts), "--dead-letters", str(letters)),
        *("--cases", str(cases)),
    )
    assert replayed.returncode == 1, replayed.stderr  # dispositions rejected, as injected
    rejected = Counter(
        DeadLetter.model_validate_json(line).reason for line in letters.read_bytes().splitlines()
    )
    raised = {Alert.model_validate_json(line).alert_id for line in alerts.read_bytes().splitlines()}
    assert rejected == injected_rejections(lines, raised), rejected
    assert rejected["unknown_alert"] and rejected["repeated_disposition"]
    evaluated = duanka(
        "evaluate", "--truth", str(truth), "--alerts", str(alerts), "--cases", str(cases)
    )
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    recalls = [line.split() for line in evaluated.stdout.splitlines() if line.startswith(RULES)]
    assert {row[0] for row in recalls} == set(RULES_RUN)
    assert all(row[4:6] == ["1.000", "1.000"] for row in recalls), evaluated.stdout
    [grouped] = [line for line in evaluated.stdout.splitlines() if line.startswith("cases ")]
    cases_count, injections = re.fullmatch(
        r"cases (\d+): \1 pure \(1\.000\); injections (\d+): \2 in one case \(1\.000\)",
        grouped,
    ).groups()
    gangs = {orjson.loads(line)["gang"] for line in truth.read_bytes().splitlines()}
    assert int(injections) == len(gangs) == int(cases_count)
    assert any(g.startswith("workshop_gang") for g in gangs)
    [warned] = [
        line for line in evaluated.stdout.splitlines() if line.startswith("alerts expected")
    ]
    expected, raised, flagged, with_flag = re.fullmatch(
        r"alerts expected by id (\d+): (\d+) raised \(1\.000\); (\d+) of (\d+) name the "
        r"confirmed alert as their flag",
        warned,
    ).groups()
    assert expected == raised and flagged == with_flag and int(with_flag) > 0


def injected_rejections(lines: list[dict[str, Any]], raised: set[str]) -> Counter[str]:
    """The dispositions a simulation file holds that must be dead-lettered, given the ids of
    the alerts raised: one of an alert never raised (a mistyped id), and a second one by an
    institution on an alert."""
    decided = Counter(
        (line["value"]["alert_id"], line["value"]["institution"])
        for line in lines
        if line["topic"] == "dispositions"
    )
    return Counter(
        {
            "unknown_alert": sum(n for (a, _), n in decided.items() if a not in raised),
            "repeated_disposition": sum(n - 1 for (a, _), n in decided.items() if a in raised),
        }
    )


def test_a_simulation_file_that_would_pass_now_is_refused(tmp_path: Path) -> None:
    start = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    result = duanka(
        "simulate", "--events", "1000", "--start", start, "--out", str(tmp_path / "h.jsonl")
    )
    assert result.returncode == 2
    assert "days after now" in result.stderr
    assert not (tmp_path / "h.jsonl").exists()


def test_replay_links_the_alerts_into_cases_and_writes_every_case_record(tmp_path: Path) -> None:
    history, truth = tmp_path / "history.jsonl", tmp_path / "truth.jsonl"
    alerts_file, cases_file = tmp_path / "alerts.jsonl", tmp_path / "cases.jsonl"
    simulated = duanka(
        "simulate",
        *("--events", "20000", "--seed", "5", "--injection-rate", "0.05"),
        *("--out", str(history), "--truth", str(truth)),
    )
    assert simulated.returncode == 0, simulated.stderr
    replayed = duanka("replay", str(history), "--out", str(alerts_file), "--cases", str(cases_file))
    assert replayed.returncode == 1, replayed.stderr  # the dispositions injected to be rejected
    alerts = [Alert.model_validate_json(line) for line in alerts_file.read_bytes().splitlines()]
    records = [Case.model_validate_json(line) for line in cases_file.read_bytes().splitlines()]
    latest = {record.case_id: record for record in records}
    standing = [c for c in latest.values() if c.status != "merged"]
    case_of = {a: c.case_id for c in standing for a in c.alerts}
    assert set(case_of) == {a.alert_id for a in alerts}  # every alert in one case
    assert f"cases: {len(standing)}" in replayed.stderr
    assert {c.status for c in standing} == {"open", "confirmed", "closed"}
    mule_rings = [
        {a.alert_id for a in alerts if a.rule.startswith("mule_") and a.subject.id in ring}
        for ring in _mule_rings(alerts)
    ]
    assert mule_rings and all(len(ring) >= 4 for ring in mule_rings)  # both accounts' alerts
    assert all(len({case_of[a] for a in ring}) == 1 for ring in mule_rings)


def _mule_rings(alerts: list[Alert]) -> list[set[str]]:
    """Each relay with its collector: the relay's pass-through names the collector, which
    paid it, among its counterparties."""
    collectors = {a.subject.id for a in alerts if a.rule == "mule_fan_in"}
    return [
        {a.subject.id, *paid_by}
        for a in alerts
        if a.rule == "mule_pass_through"
        and (paid_by := set(a.evidence.counterparties) & collectors - {a.subject.id})
    ]


def test_replay_reads_dispositions_and_writes_the_cases_they_close(tmp_path: Path) -> None:
    """A carrier finds a shared-device alert a false positive: its case is closed; a
    disposition of an alert never raised is a dead letter, and replay exits 1."""
    history, alerts_file = tmp_path / "history.jsonl", tmp_path / "alerts.jsonl"
    cases_file, letters_file = tmp_path / "cases.jsonl", tmp_path / "letters.jsonl"
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    events = [
        activation(f"p{n}", at + timedelta(minutes=n), device="imei:42").model_dump(mode="json")
        for n in range(5)
    ]
    history.write_bytes(
        b"".join(orjson.dumps({"topic": "sim-activations", "value": e}) + b"\n" for e in events)
    )
    assert duanka("replay", str(history), "--out", str(alerts_file)).returncode == 0
    [device_alert] = [
        a
        for a in map(Alert.model_validate_json, alerts_file.read_bytes().splitlines())
        if a.rule == "shared_device"
    ]
    decided = {"institution": "cmcc", "outcome": "false_positive", "decided_at": at.isoformat()}
    with history.open("ab") as lines:
        for alert_id in (device_alert.alert_id, "e" * 32):
            disposition = {"alert_id": alert_id, **decided}
            lines.write(orjson.dumps({"topic": "dispositions", "value": disposition}) + b"\n")
    replayed = duanka(
        "replay",
        str(history),
        *("--out", str(alerts_file), "--cases", str(cases_file)),
        *("--dead-letters", str(letters_file)),
    )
    assert replayed.returncode == 1, replayed.stderr
    records = [Case.model_validate_json(line) for line in cases_file.read_bytes().splitlines()]
    assert [r.status for r in records if device_alert.alert_id in r.alerts][-1] == "closed"
    [letter] = [
        DeadLetter.model_validate_json(line) for line in letters_file.read_bytes().splitlines()
    ]
    assert (letter.reason, letter.offset) == ("unknown_alert", 7)
    assert "dispositions: 1" in replayed.stderr
    assert re.search(r"shared_device\s+false_positive\s+1", replayed.stderr)
