"""The console's sessions and what it shows of cases (`duanka.console`), without a web
server: the browser tests drive the pages (`tests/integration/test_console.py`)."""

import csv
import io
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from duanka.console.case_view import (
    MAX_LISTED,
    NAMED,
    Filters,
    case_list,
    case_page,
    export_csv,
    export_json,
    graph,
    search,
)
from duanka.console.session import Sessions
from duanka.detector.core.cases import CaseLinker
from duanka.detector.core.engine import Engine
from duanka.detector.core.intake import Admitted
from duanka.detector.core.policy import Policy
from duanka.detector.core.ties import Tie, ties_of
from duanka.replay.replayer import Replayer
from duanka.schemas.alerts import Alert
from duanka.schemas.dispositions import Disposition
from tests.factories import T0, account_open, activation, identity, transfer

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
NOW = datetime(2026, 12, 1, tzinfo=UTC)
TOKEN = "console-token-0123456789"


# Sessions ---------------------------------------------------------------------------------


def test_a_session_is_good_until_it_expires() -> None:
    sessions = Sessions(TOKEN, timedelta(hours=8))
    cookie = sessions.issue(NOW)
    assert sessions.valid(cookie, NOW + timedelta(hours=7, minutes=59))
    assert not sessions.valid(cookie, NOW + timedelta(hours=8))


def test_a_session_does_not_hold_the_token_and_each_is_new() -> None:
    sessions = Sessions(TOKEN, timedelta(hours=8))
    first, second = sessions.issue(NOW), sessions.issue(NOW)
    assert TOKEN not in first and first != second


@pytest.mark.parametrize(
    "forge",
    [
        lambda c: c[:-1] + ("0" if c[-1] != "0" else "1"),  # signature changed
        lambda c: str(int(c.split(".")[0]) + 86400) + c[c.index(".") :],  # expiry extended
        lambda c: "",
        lambda c: "garbage",
        lambda c: "1.2.3.4",
    ],
)
def test_a_changed_or_made_up_cookie_is_no_session(forge: object) -> None:
    sessions = Sessions(TOKEN, timedelta(hours=8))
    cookie = sessions.issue(NOW)
    assert callable(forge)
    assert not sessions.valid(forge(cookie), NOW)


def test_another_token_ends_every_session() -> None:
    cookie = Sessions(TOKEN, timedelta(hours=8)).issue(NOW)
    assert not Sessions(TOKEN + "x", timedelta(hours=8)).valid(cookie, NOW)


def test_a_change_needs_the_value_of_its_own_session() -> None:
    sessions = Sessions(TOKEN, timedelta(hours=8))
    mine, other = sessions.issue(NOW), sessions.issue(NOW)
    assert sessions.csrf_matches(mine, sessions.csrf(mine))
    assert not sessions.csrf_matches(mine, sessions.csrf(other))
    assert not sessions.csrf_matches(mine, None)
    assert sessions.token_matches(TOKEN) and not sessions.token_matches(TOKEN[:-1])


# Cases --------------------------------------------------------------------------------------

MULE, RELAY = "icbc:mule-1", "ccb:relay-1"


def gang() -> list[Admitted]:
    """A card seller with five numbers, and on the seller's phone a holder opening three
    accounts, one a mule paying another: one case, joined through the phone and the
    holder."""
    return [
        *(
            activation("seller", T0 + n * HOUR, n=n, device="phone-1", outlet="shop-7")
            for n in range(5)
        ),
        account_open("holder", T0, account=MULE, device="phone-1"),
        account_open("holder", T0 + MINUTE, n=2, account=RELAY, source="ccb", device="phone-1"),
        account_open("holder", T0 + 2 * MINUTE, n=3, account="abc:third-1", source="abc"),
        transfer("victim-1", MULE, 300_000, T0 + HOUR, n=1),
        transfer("victim-2", MULE, 200_000, T0 + HOUR + 10 * MINUTE, n=2),
        transfer(MULE, RELAY, 250_000, T0 + HOUR + 30 * MINUTE, n=3),
        transfer(MULE, RELAY, 160_000, T0 + HOUR + 35 * MINUTE, n=4),
    ]


class Replayed:
    """A replay of events, with every alert's ties read from its subject's state at the
    end, as the case linker's table would hold them."""

    def __init__(self, events: list[Admitted]) -> None:
        self.replayer = Replayer(Engine(Policy()))
        self.alerts: dict[str, Alert] = {}
        for event in events:
            for alert in self.replayer.apply(event):
                self.alerts[alert.alert_id] = alert

    @property
    def linker(self) -> CaseLinker:
        return self.replayer.linker

    def read(self, alert_id: str) -> tuple[Alert, list[Tie]] | None:
        alert = self.alerts.get(alert_id)
        if alert is None:
            return None
        state = self.replayer.states.get((alert.subject.kind, alert.subject.id))
        return alert, ties_of(alert, state)

    def page(self, case_id: str) -> dict[str, object]:
        page = case_page(self.linker, case_id, self.read, NOW)
        assert page is not None
        return page


def test_a_case_page_holds_its_alerts_earliest_first_and_its_graph() -> None:
    replayed = Replayed(gang())
    [case] = case_list(replayed.linker, Filters(), NOW)["cases"]
    page = replayed.page(case["case_id"])
    alerts = page["alerts"]
    assert isinstance(alerts, list)
    assert {a["rule"] for a in alerts} >= {"bulk_sim_opener", "bulk_account_opener"}
    ends = [a["window"]["end"] for a in alerts]
    assert ends == sorted(ends)
    nodes = {n["id"] for n in page["graph"]["nodes"]}  # type: ignore[index]
    assert f"identity:{identity('seller')}" in nodes
    assert f"account:{MULE}" in nodes and "account:victim-1" not in nodes


def test_money_between_members_is_one_edge_with_every_transfer_counted_once() -> None:
    replayed = Replayed(gang())
    [case] = case_list(replayed.linker, Filters(), NOW)["cases"]
    edges = replayed.page(case["case_id"])["graph"]["edges"]  # type: ignore[index]
    [paid] = [e for e in edges if e["relation"] == "paid"]
    assert paid == {
        "source": f"account:{MULE}",
        "target": f"account:{RELAY}",
        "relation": "paid",
        "events": 2,
        "amount_minor": 410_000,
    }
    holder = f"identity:{identity('holder')}"
    assert {"source": holder, "target": f"account:{MULE}", "relation": "opened"}.items() <= next(
        e for e in edges if e["source"] == holder and e["target"] == f"account:{MULE}"
    ).items()


def test_an_entity_no_tie_reaches_is_joined_to_its_alerts_subject() -> None:
    replayed = Replayed(gang())
    [case] = case_list(replayed.linker, Filters(), NOW)["cases"]
    alerts = replayed.linker.alerts_of(case["case_id"])
    drawn = graph(alerts, {})  # no ties kept: every member hangs off its alert's subject
    seller = f"identity:{identity('seller')}"
    assert {e["relation"] for e in drawn["edges"]} == {NAMED}
    assert {e["target"] for e in drawn["edges"] if e["source"] == seller} >= {
        "device:phone-1",
        "outlet:shop-7",
    }
    assert drawn["omitted"] == 0


def test_the_list_puts_the_most_severe_and_latest_first_and_filters() -> None:
    events = [
        *(activation("early", T0 + n * HOUR, n=n) for n in range(5)),
        *(activation("late", T0 + 10 * HOUR + n * HOUR, n=n) for n in range(5)),
        activation("owner", T0 + 20 * HOUR, msisdn="+8613700001111"),
        account_open("borrower", T0 + 21 * HOUR, msisdn="+8613700001111"),
    ]
    replayed = Replayed(events)
    listed = case_list(replayed.linker, Filters(), NOW)
    rows = listed["cases"]
    assert [r["severity"] for r in rows] == ["high", "high", "medium"]
    assert rows[0]["last_at"] > rows[1]["last_at"]
    assert listed["facets"]["rule"] == ["borrowed_phone", "bulk_sim_opener"]
    only = case_list(replayed.linker, Filters(rule="borrowed_phone"), NOW)
    assert [r["rules"] for r in only["cases"]] == [{"borrowed_phone": 1}]
    assert case_list(replayed.linker, Filters(institution="icbc"), NOW)["total"] == 1
    assert case_list(replayed.linker, Filters(status="closed"), NOW)["cases"] == []
    assert "members" not in rows[0] and rows[0]["member_counts"]["msisdns"] == 5


def test_the_list_shows_at_most_its_cap_and_counts_the_rest() -> None:
    events = [
        activation(f"seller-{s}", T0 + n * MINUTE, n=n)
        for s in range(MAX_LISTED + 3)
        for n in range(5)
    ]
    listed = case_list(Replayed(events).linker, Filters(), NOW)
    assert len(listed["cases"]) == MAX_LISTED and listed["total"] == MAX_LISTED + 3


def test_a_merged_case_is_its_record_naming_the_case_it_joined() -> None:
    seller = [activation("seller", T0 + n * HOUR, n=n) for n in range(5)]
    holder = [account_open("holder", T0 + 6 * HOUR + n * MINUTE, n=n) for n in range(3)]
    # the holder opens an account with one of the seller's numbers: one gang
    bridge = account_open("holder", T0 + 7 * HOUR, n=9, msisdn=seller[2].msisdn)
    replayed = Replayed([*seller, *holder])
    first = {c.case_id for c in replayed.linker.records(NOW)}
    for alert in replayed.replayer.apply(bridge):
        replayed.alerts[alert.alert_id] = alert
    [case] = replayed.linker.records(NOW)
    assert len(first) == 2 and case.case_id in first
    [merged] = first - {case.case_id}
    page = replayed.page(merged)
    assert page["case"]["status"] == "merged"  # type: ignore[index]
    assert page["case"]["merged_into"] == case.case_id  # type: ignore[index]
    assert "alerts" not in page
    assert case_page(replayed.linker, "0" * 32, replayed.read, NOW) is None


def test_search_finds_the_case_of_any_member() -> None:
    replayed = Replayed(gang())
    [case] = replayed.linker.records(NOW)
    for text in (identity("seller"), MULE, "phone-1", "shop-7", activation("seller", n=2).msisdn):
        [found] = search(replayed.linker, text)
        assert found["case_id"] == case.case_id
    assert search(replayed.linker, "victim-1") == []


def test_decisions_show_on_their_alert_and_refusals_match_the_topic() -> None:
    replayed = Replayed(gang())
    linker = replayed.linker
    [case] = linker.records(NOW)
    alert_id = case.alerts[0]
    assert linker.refusal(alert_id, "afc") is None
    decided = Disposition(
        alert_id=alert_id, institution="afc", outcome="confirmed", note="=cmd", decided_at=NOW
    )
    replayed.replayer._dispose(decided)
    again = linker.refusal(alert_id, "afc")
    assert again is not None and again.reason == "repeated_disposition"
    assert "afc disposed of alert" in str(again)
    unknown = linker.refusal("f" * 32, "afc")
    assert unknown is not None and unknown.reason == "unknown_alert"
    page = replayed.page(case.case_id)
    assert page["case"]["status"] == "confirmed"  # type: ignore[index]
    [first] = [a for a in page["alerts"] if a["alert_id"] == alert_id]  # type: ignore[attr-defined]
    assert [d["outcome"] for d in first["dispositions"]] == ["confirmed"]
    rows = list(csv.DictReader(io.StringIO(export_csv(page))))
    assert len(rows) == len(page["alerts"])  # type: ignore[arg-type]
    [row] = [r for r in rows if r["alert_id"] == alert_id]
    assert row["dispositions"].startswith("afc:confirmed:")
    assert row["dispositions"].endswith(":=cmd")  # inside a cell: no formula
    assert orjson.loads(export_json(page)) == orjson.loads(orjson.dumps(page))


def test_a_cell_a_spreadsheet_would_run_starts_with_an_apostrophe() -> None:
    page = Replayed(gang()).page(Replayed(gang()).linker.records(NOW)[0].case_id)
    page["alerts"][0]["summary"] = '=HYPERLINK("http://x")'  # type: ignore[index]
    rows = list(csv.DictReader(io.StringIO(export_csv(page))))
    assert rows[0]["summary"] == '\'=HYPERLINK("http://x")'


def test_the_list_follows_every_change_of_a_case_it_made_before() -> None:
    seller = [activation("seller", T0 + n * HOUR, n=n) for n in range(6)]
    replayed = Replayed(seller[:5])
    [before] = case_list(replayed.linker, Filters(), NOW)["cases"]
    assert (before["alert_count"], before["status"]) == (1, "open")
    for alert in replayed.replayer.apply(seller[5]):  # watchlisted: a second alert
        replayed.alerts[alert.alert_id] = alert
    [grown] = case_list(replayed.linker, Filters(), NOW)["cases"]
    assert grown["alert_count"] == 2 and grown["case_id"] == before["case_id"]
    first = replayed.linker.alerts_of(before["case_id"])[0].alert_id
    replayed.replayer._dispose(
        Disposition(alert_id=first, institution="afc", outcome="confirmed", decided_at=NOW)
    )
    [decided] = case_list(replayed.linker, Filters(), NOW)["cases"]
    assert decided["status"] == "confirmed"
    assert case_list(replayed.linker, Filters(status="open"), NOW)["cases"] == []
