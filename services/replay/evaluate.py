"""`duanka evaluate --truth T --alerts A [--cases C]`: precision and recall per rule, and
how the cases group the injections.

A true positive is a (rule, subject kind, subject id) that is both in the truth (what the
simulator injected) and among the alerts; several alerts for one pair count once. With
the case records (`duanka replay --cases`), each case not merged into another (open,
confirmed or closed) is *pure* when its alerts
about injected subjects all belong to one injection (a gang, or a lone card farmer), and
each injection is *complete* when all its alerts are in one case.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

from schemas.alerts import Alert
from schemas.cases import Case
from schemas.codec import DecodeError, decode

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


def read_truth(path: Path) -> tuple[set[Pair], dict[tuple[str, str], str]]:
    """`{"rule", "kind", "id", "gang"}` per line: the pairs, and per (kind, id) its
    injection (`gang`; a file without it groups nothing)."""
    pairs: set[Pair] = set()
    gangs: dict[tuple[str, str], str] = {}
    for line in path.read_bytes().splitlines():
        if line.strip():
            record = orjson.loads(line)
            pairs.add((record["rule"], record["kind"], record["id"]))
            if "gang" in record:
                gangs[(record["kind"], record["id"])] = record["gang"]
    return pairs, gangs


def read_alerts(path: Path) -> dict[str, Pair]:
    """The (rule, subject kind, subject id) of every alert, by alert id; one alert JSON per
    line."""
    alerts: dict[str, Pair] = {}
    for line in path.read_bytes().splitlines():
        if line.strip():
            alert = decode(Alert, line)
            alerts[alert.alert_id] = (alert.rule, alert.subject.kind, alert.subject.id)
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
        (truth, gangs), alerts = read_truth(truth_path), read_alerts(alerts_path)
        cases = None if cases_path is None else read_cases(cases_path)
    except (OSError, KeyError, orjson.JSONDecodeError, DecodeError) as exc:
        print(f"duanka evaluate: {exc!r}", file=sys.stderr)
        return 2
    print(table(score(truth, set(alerts.values()))))
    if cases is not None:
        subjects = {alert_id: (kind, id) for alert_id, (_, kind, id) in alerts.items()}
        print(grouping(gangs, subjects, cases).line())
    return 0
