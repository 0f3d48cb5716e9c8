"""deploy/grafana/duanka.json: a dashboard Grafana can import, whose every query is valid
PromQL (checked by promtool as recording rules) and uses the data source variable."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, run, tool

DASHBOARD = DEPLOY / "grafana" / "duanka.json"
PANELS_NEEDED = ("Input events", "lag", "Alerts by rule", "latency", "Dead letters", "Rebalances")


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def queries() -> list[str]:
    return [t["expr"] for panel in dashboard()["panels"] for t in panel["targets"]]


def test_the_dashboard_has_the_panels_operators_need() -> None:
    board = dashboard()
    titles = [p["title"] for p in board["panels"]]
    for needed in PANELS_NEEDED:
        assert any(needed in title for title in titles), needed
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    [variable] = board["templating"]["list"]
    assert (variable["name"], variable["type"]) == ("datasource", "datasource")
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"], panel["title"]


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    rules = [
        {"record": f"duanka:panel_query_{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, expr in enumerate(queries())
    ]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    output = run(tool("promtool"), "check", "rules", str(path))
    assert f"SUCCESS: {len(rules)} rules found" in output


def test_an_invalid_query_would_be_caught(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    broken = {"record": "duanka:broken", "expr": "sum by (topic (rate(x[5m]))"}
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [broken]}]}))
    with pytest.raises(pytest.fail.Exception):
        run(tool("promtool"), "check", "rules", str(path))
