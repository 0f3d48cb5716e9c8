"""deploy/prometheus: the alerting rules and the Compose scrape config are valid, each alert
fires on the series it is for (promtool's rule unit tests), and the Prometheus Operator's
copy in deploy/k8s says the same."""

from typing import Any

import yaml

from tests.deploy.conftest import DEPLOY, run, tool

PROMETHEUS = DEPLOY / "prometheus"


def test_config_and_rules_pass_promtool() -> None:
    output = run(tool("promtool"), "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert "SUCCESS: 5 rules found" in output


def test_each_alert_fires_on_what_it_is_for() -> None:
    output = run(tool("promtool"), "test", "rules", "rules_test.yml", cwd=PROMETHEUS)
    assert "SUCCESS" in output


def test_every_alert_has_a_unit_test() -> None:
    rules = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    tests = yaml.safe_load((PROMETHEUS / "rules_test.yml").read_text())
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"]}
    tested = {case["alertname"] for t in tests["tests"] for case in t["alert_rule_test"]}
    assert alerts == tested


def test_the_prometheus_rule_resource_holds_the_same_rules(rendered: list[dict[str, Any]]) -> None:
    [resource] = [d for d in rendered if d["kind"] == "PrometheusRule"]
    assert resource["spec"] == yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
