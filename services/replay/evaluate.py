"""`duanka evaluate --truth T --alerts A`: precision and recall per rule.

A true positive is a (rule, subject kind, subject id) that is both in the truth (what the
simulator injected) and among the alerts; several alerts for one pair count once.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

from schemas.alerts import Alert
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


def read_truth(path: Path) -> set[Pair]:
    """`{"rule", "kind", "id"}` per line."""
    pairs: set[Pair] = set()
    for line in path.read_bytes().splitlines():
        if line.strip():
            record = orjson.loads(line)
            pairs.add((record["rule"], record["kind"], record["id"]))
    return pairs


def read_alerts(path: Path) -> set[Pair]:
    """The (rule, subject kind, subject id) of every alert, one alert JSON per line."""
    pairs: set[Pair] = set()
    for line in path.read_bytes().splitlines():
        if line.strip():
            alert = decode(Alert, line)
            pairs.add((alert.rule, alert.subject.kind, alert.subject.id))
    return pairs


def evaluate(truth_path: Path, alerts_path: Path) -> int:
    """Print the table; exit status 2 when a file cannot be read."""
    try:
        truth, found = read_truth(truth_path), read_alerts(alerts_path)
    except (OSError, KeyError, orjson.JSONDecodeError, DecodeError) as exc:
        print(f"duanka evaluate: {exc!r}", file=sys.stderr)
        return 2
    print(table(score(truth, found)))
    return 0
