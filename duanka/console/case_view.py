"""What the console shows of cases, built from the case linker: the list an analyst picks
from, one case with its alerts, their dispositions and its graph, and its export for a
police file. Plain data, no web: the views in `pages` serve it."""

import csv
import io
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from duanka.detector.core.cases import SEVERITY_ORDER, CaseLinker, Linked
from duanka.detector.core.state import Entity
from duanka.detector.core.ties import Tie
from duanka.schemas.alerts import ENTITY_FIELDS, Alert
from duanka.schemas.cases import Case

MAX_LISTED = 200
"""The most cases the list shows at once (the filters narrow it)."""
MAX_ALERTS = 500
"""The most alerts one case page shows, newest kept."""
MAX_NODES = 400
"""The most entities one graph draws; the rest are counted."""
NAMED = "named"
"""The relation drawn from an alert's subject to an entity it names that no tie reaches."""

Read = Callable[[str], tuple[Alert, list[Tie]] | None]
"""An alert linked, with its ties, by alert id (None: not stored)."""


class Filters(NamedTuple):
    """What the analyst narrowed the list to (None: everything)."""

    status: str | None = None
    rule: str | None = None
    institution: str | None = None

    def admit(self, case: Case) -> bool:
        return (
            (self.status is None or case.status == self.status)
            and (self.rule is None or self.rule in case.rules)
            and (self.institution is None or self.institution in case.institutions)
        )


def case_list(linker: CaseLinker, filters: Filters, now: datetime) -> dict[str, Any]:
    """The cases the filters admit, the most severe first, then the latest; the rules,
    institutions and statuses any case has, to filter by."""
    records = linker.records(now)
    admitted = [case for case in records if filters.admit(case)]
    admitted.sort(key=lambda c: (-SEVERITY_ORDER[c.severity], -c.last_at.timestamp(), c.case_id))
    return {
        "cases": [_row(case) for case in admitted[:MAX_LISTED]],
        "total": len(admitted),
        "facets": {
            "status": sorted({case.status for case in records}),
            "rule": sorted({rule for case in records for rule in case.rules}),
            "institution": sorted({i for case in records for i in case.institutions}),
        },
    }


def case_page(linker: CaseLinker, id: str, read: Read, now: datetime) -> dict[str, Any] | None:
    """One case: its record, its alerts (earliest first) with what institutions decided,
    and its entities as a graph. A merged case is its record alone, naming the case it
    joined. None: no such case."""
    record = linker.case(id, now)
    if record is None:
        return None
    page: dict[str, Any] = {"case": record.model_dump(mode="json")}
    if record.status == "merged":
        return page
    linked = linker.alerts_of(id)
    shown = linked[-MAX_ALERTS:]
    alerts, ties = [], {}
    for entry in shown:
        found = read(entry.alert_id)
        if found is None:
            continue
        alert, alert_ties = found
        document = alert.model_dump(mode="json")
        document["dispositions"] = [
            d.model_dump(mode="json")
            for _, d in sorted(linker.dispositions.get(alert.alert_id, {}).items())
        ]
        alerts.append(document)
        ties[alert.alert_id] = alert_ties
    page["alerts"] = alerts
    page["alerts_omitted"] = len(linked) - len(shown)
    page["graph"] = graph(shown, ties)
    return page


def graph(alerts: Iterable[Linked], ties: dict[str, list[Tie]]) -> dict[str, Any]:
    """The case's members as nodes, and as edges what joins them: each relation between
    two members once, with how many events made it and, for money, how much (in the
    policy's currency). An entity an alert names that none of its ties reaches is joined to
    the alert's subject (`named`), so that every member is drawn where its alert put it."""
    alerts = list(alerts)
    members: dict[Entity, int] = {}
    subjects: set[Entity] = set()
    for alert in alerts:
        subjects.add(alert.subject)
        for member in alert.members:
            members[member] = members.get(member, 0) + 1
    drawn = dict(sorted(members.items(), key=lambda m: (-m[1], m[0]))[:MAX_NODES])
    events: dict[tuple[Entity, Entity, str], dict[str, int | None]] = {}
    for alert in alerts:
        reached = {alert.subject}
        for tie in ties.get(alert.alert_id, ()):
            if tie.source in drawn and tie.target in drawn:
                events.setdefault((tie.source, tie.target, tie.relation), {})[tie.event_id] = (
                    tie.amount_minor
                )
                reached.update((tie.source, tie.target))
        for member in alert.members:
            if member not in reached and member in drawn:
                events.setdefault((alert.subject, member, NAMED), {})[alert.alert_id] = None
    edges = [
        {
            "source": _key(source),
            "target": _key(target),
            "relation": relation,
            "events": len(amounts),
            "amount_minor": sum(a for a in amounts.values() if a is not None)
            if relation == "paid"
            else None,
        }
        for (source, target, relation), amounts in sorted(events.items())
    ]
    nodes = [
        {"id": _key(member), "kind": member[0], "alerts": count, "subject": member in subjects}
        for member, count in sorted(drawn.items())
    ]
    return {"nodes": nodes, "edges": edges, "omitted": len(members) - len(drawn)}


def export_json(page: dict[str, Any]) -> bytes:
    """The case page as one JSON document, indented for reading."""
    return orjson.dumps(page, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


CSV_COLUMNS = (
    "alert_id",
    "rule",
    "severity",
    "subject",
    "window_start",
    "window_end",
    "amount_minor",
    "members",
    "counterparties",
    "actions",
    "dispositions",
    "summary",
)


def export_csv(page: dict[str, Any]) -> str:
    """The case's alerts, one row each: ids, members, amounts, actions and dispositions.
    Cells a spreadsheet would run as a formula start with an apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for alert in page.get("alerts", []):
        evidence = alert["evidence"]
        entities = evidence.get("entities") or {}
        members = [
            f"{kind}:{id}" for kind, name in ENTITY_FIELDS.items() for id in entities.get(name, [])
        ]
        if evidence.get("holder"):
            members.append(f"holder:{evidence['holder']}")
        row = (
            alert["alert_id"],
            alert["rule"],
            alert["severity"],
            f"{alert['subject']['kind']}:{alert['subject']['id']}",
            alert["window"]["start"],
            alert["window"]["end"],
            str(evidence["amount_minor"]),
            ";".join(members),
            ";".join(evidence.get("counterparties", [])),
            ";".join(
                f"{a['action']}:{a['target']}@{a['institution'] or '*'}" for a in alert["actions"]
            ),
            ";".join(
                f"{d['institution']}:{d['outcome']}:{d['decided_at']}"
                + (f":{d['note']}" if d.get("note") else "")
                for d in alert["dispositions"]
            ),
            alert["summary"],
        )
        writer.writerow([_inert(cell) for cell in row])
    return out.getvalue()


def search(linker: CaseLinker, text: str) -> list[dict[str, str]]:
    """The cases holding an entity with this id: a token, number, account, device,
    outlet or company."""
    return [{"entity": _key(member), "case_id": case_id} for member, case_id in linker.find(text)]


def _row(case: Case) -> dict[str, Any]:
    row: dict[str, Any] = case.model_dump(
        mode="json", exclude={"members", "alerts", "merged_into", "schema_version"}
    )
    return row


def _key(entity: Entity) -> str:
    return f"{entity[0]}:{entity[1]}"


def _inert(cell: str) -> str:
    return f"'{cell}" if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
