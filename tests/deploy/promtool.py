"""Running Debian's promtool (installed by `make promtool`, which `make test` depends on)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: `make promtool` installs Debian's prometheus package"
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, cwd=PROMETHEUS, timeout=120
    )
