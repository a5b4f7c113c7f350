"""Every metric a Grafana dashboard or a Prometheus rule reads is one the services export (or a
recording rule computes): a renamed metric fails here, not silently on a blank panel."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY, CollectorRegistry

from services.common.metrics import ServiceMetrics
from tests.deploy.promtool import promtool

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERVICES = ("billing", "erasure", "membership", "notify")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}
# Words of PromQL that look like metric names: operators, modifiers, and literals.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left", "group_right"}


def exported_metrics() -> set[str]:
    # Each service's own metrics register in the default registry when their module loads;
    # the mechanism metrics are built per service, here in registries of their own.
    registries = [REGISTRY]
    for service in SERVICES:
        importlib.import_module(f"services.{service}.metrics")
        registries.append(ServiceMetrics(service, CollectorRegistry()).registry)
    return {
        family.name + suffix
        for registry in registries
        for family in registry.collect()
        for suffix in SUFFIXES[family.type]
    }


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects (a small tokenizer, enough for ours)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values, strings
    expr = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)  # matchers, ranges
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    return {
        name
        for name in re.findall(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()", expr)
        if name not in KEYWORDS
    }


def rule_groups() -> Iterator[dict[str, Any]]:
    for path in sorted((DEPLOY / "prometheus" / "rules").glob("*.yaml")):
        yield from yaml.safe_load(path.read_text())["groups"]


def dashboard_exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from dashboard_exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from dashboard_exprs(item)


def test_tokenizer_finds_series_and_skips_functions_labels_and_ranges() -> None:
    expr = (
        "sum by (service, le) "
        '(rate(foo_seconds_bucket{route="/a{b}",code!~"OK|x"}[$__rate_interval]))'
        " / on (service) group_left bar:ratio_rate5m > 14.4 * 0.001 and time() - baz offset 5m"
    )
    assert metric_names(expr) == {"foo_seconds_bucket", "bar:ratio_rate5m", "baz"}


def test_dashboards_and_rules_read_only_exported_metrics() -> None:
    known = exported_metrics()
    used: dict[str, set[str]] = {}
    for group in rule_groups():
        for rule in group["rules"]:
            if "record" in rule:
                known.add(rule["record"])
            for name in metric_names(rule["expr"]):
                used.setdefault(name, set()).add(rule.get("alert") or rule.get("record"))
    dashboards = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
    assert len(dashboards) == 1 + len(SERVICES)
    for path in dashboards:
        for expr in dashboard_exprs(json.loads(path.read_text())):
            for name in metric_names(expr):
                used.setdefault(name, set()).add(path.name)
    unknown = {name: sorted(where) for name, where in used.items() if name not in known}
    assert unknown == {}
    # Every service's dashboard and the rules do read something of every service.
    for service in SERVICES:
        assert any(name.startswith(f"{service}_") for name in used), service


def test_dashboards_are_grafana_dashboards_on_a_chosen_prometheus() -> None:
    uids = set()
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        uids.add(board["uid"])
        assert board["schemaVersion"] >= 36, path.name
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", path.name
        assert variables["datasource"]["query"] == "prometheus", path.name
        panels = [p for p in board["panels"] if p["type"] != "row"]
        assert panels, path.name
        for panel in panels:
            assert {"h", "w", "x", "y"} <= panel["gridPos"].keys(), panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}", panel["title"]
                assert target["expr"].strip(), panel["title"]
    assert len(uids) == 1 + len(SERVICES)


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool parses rule expressions, so each query becomes a recording rule; Grafana's
    # interval variables become a fixed range first.
    rules = [
        {"record": f"dashboard:query{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, expr in enumerate(
            expr
            for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
            for expr in dashboard_exprs(json.loads(path.read_text()))
        )
    ]
    path = tmp_path / "dashboards.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
