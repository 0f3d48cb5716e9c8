"""`duanka evaluate --truth T --alerts A [--cases C]`: precision and recall per rule, and
how the cases group the injections.

A true positive is a (rule, subject kind, subject id) that is both in the truth (what the
simulator injected) and among the alerts; several alerts for one pair count once. With
the case records (`duanka replay --cases`), each case not merged into another (open,
confirmed or closed) is *pure* when its alerts
about injected subjects all belong to one injection (a gang, or a lone card farmer), and
each injection is *complete* when all its alerts are in one case.

The truth also lists alerts expected by id: the warnings of payments into flagged accounts,
with the flag each must name where the simulator knows it (a confirmed alert). They are
reported as found, and as naming the flag expected.
"""

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import orjson

from duanka.schemas.alerts import Alert
from duanka.schemas.cases import Case
from duanka.schemas.codec import DecodeError, decode

Pair = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class RuleScore:
    """One rule's confusion counts."""

    rule: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0


def score(truth: set[Pair], found: set[Pair]) -> list[RuleScore]:
    """Per rule, sorted by name, over every rule in either set."""
    rules = sorted({pair[0] for pair in truth | found})
    return [
        RuleScore(
            rule,
            len({p for p in found & truth if p[0] == rule}),
            len({p for p in found - truth if p[0] == rule}),
            len({p for p in truth - found if p[0] == rule}),
        )
        for rule in rules
    ]


@dataclass(frozen=True, slots=True)
class Grouping:
    """How the cases (those not merged into another) group the injections' alerts."""

    cases: int
    """Cases holding an alert about an injected subject."""
    pure: int
    """Of those, the cases whose such alerts all belong to one injection."""
    injections: int
    """Injections with an alert."""
    complete: int
    """Of those, the injections all of whose alerts are in one case."""

    def line(self) -> str:
        return (
            f"cases {self.cases}: {self.pure} pure ({_share(self.pure, self.cases)}); "
            f"injections {self.injections}: {self.complete} in one case "
            f"({_share(self.complete, self.injections)})"
        )


class ExpectedAlert(NamedTuple):
    """An alert the truth expects by id, and the flag it must name (None: any)."""

    alert_id: str
    flag_alert_id: str | None


@dataclass(frozen=True, slots=True)
class Warnings:
    """How many of the alerts expected by id were raised, and named the flag expected."""

    expected: int
    raised: int
    flagged: int
    """Of those raised and expected to name a flag, those naming it."""
    with_flag: int
    """Of those raised, those expected to name a flag."""

    def line(self) -> str:
        return (
            f"alerts expected by id {self.expected}: {self.raised} raised "
            f"({_share(self.raised, self.expected)}); {self.flagged} of {self.with_flag} "
            f"name the confirmed alert as their flag"
        )


def warnings(expected: list[ExpectedAlert], alerts: dict[str, Alert]) -> Warnings:
    """Which of the `expected` alerts are among `alerts` (by id), naming their flags."""
    raised = [(e, alerts[e.alert_id]) for e in expected if e.alert_id in alerts]
    with_flag = [(e, a) for e, a in raised if e.flag_alert_id is not None]
    return Warnings(
        expected=len(expected),
        raised=len(raised),
        flagged=sum(a.evidence.flag_alert_id == e.flag_alert_id for e, a in with_flag),
        with_flag=len(with_flag),
    )


def grouping(
    gangs: dict[tuple[str, str], str], subjects: dict[str, tuple[str, str]], cases: list[Case]
) -> Grouping:
    """Purity and completeness of the `cases` not merged into another, given each injected subject's
    injection (`gangs`) and each alert's subject (`subjects`, by alert id)."""
    case_of: dict[str, str] = {}
    in_case: dict[str, set[str]] = {}
    for case in cases:
        if case.status == "merged":
            continue
        for alert_id in case.alerts:
            gang = gangs.get(subjects.get(alert_id, ("", "")))
            if gang is not None:
                case_of[alert_id] = case.case_id
                in_case.setdefault(case.case_id, set()).add(gang)
    cases_of_gang: dict[str, set[str]] = {}
    for alert_id, subject in subjects.items():
        gang = gangs.get(subject)
        if gang is not None:
            cases_of_gang.setdefault(gang, set()).add(case_of.get(alert_id, f"none:{alert_id}"))
    return Grouping(
        cases=len(in_case),
        pure=sum(len(g) == 1 for g in in_case.values()),
        injections=len(cases_of_gang),
        complete=sum(len(c) == 1 for c in cases_of_gang.values()),
    )


def _share(part: int, whole: int) -> str:
    return f"{part / whole if whole else 1.0:.3f}"


def table(scores: list[RuleScore]) -> str:
    """A fixed-width table, one line per rule and a total."""
    lines = [f"{'rule':<24}{'truth':>7}{'alerted':>9}{'tp':>6}{'precision':>11}{'recall':>8}"]
    for s in scores:
        lines.append(
            f"{s.rule:<24}{s.true_positives + s.false_negatives:>7}"
            f"{s.true_positives + s.false_positives:>9}{s.true_positives:>6}"
            f"{s.precision:>11.3f}{s.recall:>8.3f}"
        )
    total = RuleScore(
        "all",
        sum(s.true_positives for s in scores),
        sum(s.false_positives for s in scores),
        sum(s.false_negatives for s in scores),
    )
    lines.append(
        f"{'all':<24}{total.true_positives + total.false_negatives:>7}"
        f"{total.true_positives + total.false_positives:>9}{total.true_positives:>6}"
        f"{total.precision:>11.3f}{total.recall:>8.3f}"
    )
    return "\n".join(lines)


class Truth(NamedTuple):
    """What the simulator injected."""

    pairs: set[Pair]
    gangs: dict[tuple[str, str], str]
    """Per (kind, id), its injection."""
    expected: list[ExpectedAlert]


def read_truth(path: Path) -> Truth:
    """`{"rule", "kind", "id", "gang"}` per line: the pairs, and per (kind, id) its
    injection (`gang`; a file without it groups nothing); a line with `alert_id` (and
    `flag_alert_id`) expects that alert as well."""
    truth = Truth(set(), {}, [])
    for line in path.read_bytes().splitlines():
        if line.strip():
            record = orjson.loads(line)
            truth.pairs.add((record["rule"], record["kind"], record["id"]))
            if "gang" in record:
                truth.gangs[(record["kind"], record["id"])] = record["gang"]
            if "alert_id" in record:
                expected = ExpectedAlert(record["alert_id"], record.get("flag_alert_id"))
                truth.expected.append(expected)
    return truth


def read_alerts(path: Path) -> dict[str, Alert]:
    """Every alert, by alert id; one alert JSON per line."""
    alerts: dict[str, Alert] = {}
    for line in path.read_bytes().splitlines():
        if line.strip():
            alert = decode(Alert, line)
            alerts[alert.alert_id] = alert
    return alerts


def read_cases(path: Path) -> list[Case]:
    """The latest record of every case, one case record JSON per line."""
    latest: dict[str, Case] = {}
    for line in path.read_bytes().splitlines():
        if line.strip():
            case = decode(Case, line)
            latest[case.case_id] = case
    return list(latest.values())


def evaluate(truth_path: Path, alerts_path: Path, cases_path: Path | None = None) -> int:
    """Print the table (and the grouping, given the cases); exit status 2 when a file cannot
    be read."""
    try:
        truth, alerts = read_truth(truth_path), read_alerts(alerts_path)
        cases = None if cases_path is None else read_cases(cases_path)
    except (OSError, KeyError, orjson.JSONDecodeError, DecodeError) as exc:
        print(f"duanka evaluate: {exc!r}", file=sys.stderr)
        return 2
    found: set[Pair] = {(a.rule, a.subject.kind, a.subject.id) for a in alerts.values()}
    print(table(score(truth.pairs, found)))
    if truth.expected:
        print(warnings(truth.expected, alerts).line())
    if cases is not None:
        subjects: dict[str, tuple[str, str]] = {
            a.alert_id: (a.subject.kind, a.subject.id) for a in alerts.values()
        }
        print(grouping(truth.gangs, subjects, cases).line())
    return 0
