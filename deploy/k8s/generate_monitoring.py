"""Writes deploy/k8s/base/monitoring's PrometheusRules and Grafana dashboard ConfigMaps from
their one source, deploy/prometheus/rules/*.yaml and deploy/grafana/dashboards/*.json
(`make monitoring`). Kustomize reads no file outside a kustomization's directory, hence copies;
tests/deploy/test_monitoring_manifests.py fails when they differ from what this writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[1]
RULES = DEPLOY / "prometheus" / "rules"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
OUT = DEPLOY / "k8s" / "base" / "monitoring"
PROMETHEUS_RULES = OUT / "prometheusrules.yaml"
DASHBOARD_CONFIG_MAPS = OUT / "dashboards.yaml"
PART_OF = {"app.kubernetes.io/part-of": "kontingent"}
# The label (and value) Grafana's dashboard sidecar loads ConfigMaps by, as the Grafana and
# kube-prometheus-stack charts configure it by default.
DASHBOARD_LABEL = {"grafana_dashboard": "1"}

Doc = dict[str, Any]


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL, dashboard JSON) as literal blocks, so the output reads like
    its source."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def prometheus_rules() -> list[Doc]:
    """One PrometheusRule per rule file: the operator writes each PrometheusRule to one rule
    file, and recording.yaml and alerts.yaml share group names, which one file may not."""
    return [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": f"kontingent-{path.stem}", "labels": dict(PART_OF)},
            "spec": {"groups": yaml.safe_load(path.read_text())["groups"]},
        }
        for path in sorted(RULES.glob("*.yaml"))
    ]


def dashboard_config_maps() -> list[Doc]:
    """One ConfigMap per dashboard: each stays far below the 256 KiB that `kubectl apply`'s
    last-applied annotation allows, and a change rolls out one dashboard."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"grafana-dashboard-{path.stem}",
                "labels": {**PART_OF, **DASHBOARD_LABEL},
            },
            "data": {path.name: path.read_text()},
        }
        for path in sorted(DASHBOARDS.glob("*.json"))
    ]


def _document(source: str, docs: list[Doc]) -> str:
    header = (
        f"# Generated from {source} by `make monitoring`\n"
        "# (deploy/k8s/generate_monitoring.py): edit those and run it, never this file.\n"
    )
    body = yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    return header + body


def render() -> dict[Path, str]:
    """Each generated file's path and full text."""
    return {
        PROMETHEUS_RULES: _document("deploy/prometheus/rules/*.yaml", prometheus_rules()),
        DASHBOARD_CONFIG_MAPS: _document(
            "deploy/grafana/dashboards/*.json", dashboard_config_maps()
        ),
    }


def main() -> None:
    for path, text in render().items():
        path.write_text(text)


if __name__ == "__main__":
    main()
