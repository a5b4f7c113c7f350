"""deploy/k8s/base/monitoring: the PrometheusRules and Grafana dashboard ConfigMaps that
`make monitoring` generates from deploy/prometheus/rules and deploy/grafana/dashboards are up to
date, reach both overlays unchanged, and are what the operator and the sidecar can load."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.deploy.kustomize import K8S, OVERLAYS, of_kind, render
from tests.deploy.promtool import PROMETHEUS, promtool

DASHBOARDS = K8S.parent / "grafana" / "dashboards"
# `kubectl apply` (client-side) keeps the whole object in an annotation, and a resource's
# annotations may hold 256 KiB at most.
APPLY_ANNOTATION_LIMIT = 256 * 1024


def generator() -> ModuleType:
    # A script the Makefile runs, not a package module: loaded from its path.
    path = K8S / "generate_monitoring.py"
    spec = importlib.util.spec_from_file_location("generate_monitoring", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_files_are_up_to_date() -> None:
    for path, text in generator().render().items():
        assert path.read_text() == text, f"{path.relative_to(K8S)} is stale: run `make monitoring`"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prometheus_rules_hold_exactly_the_rule_files_groups(overlay: str) -> None:
    rules = {doc["metadata"]["name"]: doc for doc in of_kind(render(overlay), "PrometheusRule")}
    sources = sorted((PROMETHEUS / "rules").glob("*.yaml"))
    assert sources
    assert set(rules) == {f"kontingent-{path.stem}" for path in sources}
    for path in sources:
        rule = rules[f"kontingent-{path.stem}"]
        assert rule["metadata"]["namespace"] == "kontingent"
        assert rule["spec"]["groups"] == yaml.safe_load(path.read_text())["groups"], path.name


def test_each_prometheus_rule_loads_as_one_rule_file(tmp_path: Path) -> None:
    # The operator writes each PrometheusRule's groups to one file for Prometheus; group names
    # must be unique within it, which promtool (like Prometheus) checks.
    for rule in of_kind(render("prod"), "PrometheusRule"):
        path = tmp_path / f"{rule['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
        result = promtool("check", "rules", str(path))
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_dashboard_config_maps_hold_exactly_the_dashboards(overlay: str) -> None:
    config_maps = [
        doc
        for doc in of_kind(render(overlay), "ConfigMap")
        if doc["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    held: dict[str, str] = {}
    for config_map in config_maps:
        assert config_map["metadata"]["namespace"] == "kontingent"
        assert len(json.dumps(config_map)) < APPLY_ANNOTATION_LIMIT, config_map["metadata"]
        for key, text in config_map["data"].items():
            assert key not in held, f"{key} is in two ConfigMaps"
            held[key] = text
    sources = {path.name: path.read_text() for path in sorted(DASHBOARDS.glob("*.json"))}
    assert sources
    assert held == sources
