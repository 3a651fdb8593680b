"""The Prometheus rules page when they should and only then: `promtool test rules` runs a
firing and a quiet case for every rule (deploy/prometheus/warehouse-alerts.test.yml), and
the late-source rule takes each source's threshold from dbt's own freshness settings."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from runner.core.metrics import freshness_thresholds

PROJECT = Path(__file__).resolve().parents[2]
RULES = PROJECT / "deploy" / "prometheus" / "warehouse-alerts.yml"
CASES = PROJECT / "deploy" / "prometheus" / "warehouse-alerts.test.yml"


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.skip("promtool is not installed here (Debian: apt-get install prometheus)")
    return found


def test_every_rule_has_a_firing_and_a_quiet_case():
    rules = {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"]
             for rule in group["rules"]}
    cases = [case for test in yaml.safe_load(CASES.read_text())["tests"]
             for case in test.get("alert_rule_test", [])]
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert rules - firing == set(), "rules without a firing case"
    assert rules - quiet == set(), "rules without a quiet case"


def test_the_rules_pass_their_cases():
    tool = promtool()
    check = subprocess.run([tool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    result = subprocess.run([tool, "test", "rules", str(CASES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_thresholds_come_from_every_source_tables_dbt_freshness():
    found = freshness_thresholds(PROJECT)
    # The store master arrives only when stores change: its own 35 days, not the source's.
    assert found[("erp__stores", "warn")] == 35 * 86400
    assert found[("erp__stores", "error")] == 400 * 86400
    assert found[("erp__orders", "warn")] == 26 * 3600
    declared = set()
    for path in (PROJECT / "models" / "staging").glob("*/_*__sources.yml"):
        for source in yaml.safe_load(path.read_text())["sources"]:
            declared |= {f"{source['name']}__{table['name'].removeprefix(source['name'] + '_')}"
                         for table in source["tables"]}
    assert {source for source, level in found if level == "warn"} == declared
    # The rule compares with the published threshold, not a constant of its own.
    late = [rule for group in yaml.safe_load(RULES.read_text())["groups"]
            for rule in group["rules"] if rule["alert"] == "WarehouseSourceLate"][0]
    assert "warehouse_source_freshness_threshold_seconds" in late["expr"]


def published_metrics() -> set[str]:
    source = (PROJECT / "runner" / "core" / "metrics.py").read_text()
    return set(__import__("re").findall(r'_gauge\(registry, "(\w+)"', source))


def test_the_runbook_lists_every_metric_and_the_rules_read_only_published_ones():
    import re

    published = published_metrics()
    assert len(published) >= 12
    runbook = (PROJECT / "docs" / "operations.md").read_text()
    assert {name for name in published if f"`{name}" not in runbook} == set()
    for path in (RULES, PROJECT / "deploy" / "grafana" / "warehouse-daily.json"):
        read = set(re.findall(r"warehouse_[a-z_]+", path.read_text())) - {"warehouse_daily"}
        assert read - published == set(), path.name
