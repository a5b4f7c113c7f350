"""The headline figures of a benchmark in a machine-readable form, and the one table
`python -m bench.all` prints from them.

A benchmark run with BENCH_REPORT_DIR set writes its figures (figures.jsonl) and each of its
processes' peak resident memory (memory.json) there; run on its own, it writes nothing.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

REPORT_DIR_ENV = "BENCH_REPORT_DIR"
FIGURES_FILE = "figures.jsonl"
MEMORY_FILE = "memory.json"


@dataclass(frozen=True)
class Figure:
    """One headline figure: its value, the baseline it is judged against when there is one
    (measured in the same run), and the target in words with whether it was met (None: the
    figure has no target)."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_unit: str = ""
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline or math.isnan(self.value):
            return None
        return self.value / self.baseline


def report_dir() -> Path | None:
    value = os.environ.get(REPORT_DIR_ENV)
    return Path(value) if value else None


def publish(figures: list[Figure]) -> None:
    """Appends `figures` to the report directory, when there is one."""
    directory = report_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / FIGURES_FILE, "a") as out:
        for figure in figures:
            out.write(json.dumps(asdict(figure)) + "\n")


def publish_memory(peak_kib: dict[str, int | None]) -> None:
    """Each process's peak resident memory in KiB, when there is a report directory."""
    directory = report_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MEMORY_FILE).write_text(json.dumps(peak_kib))


def load(directory: Path) -> tuple[list[Figure], dict[str, int | None]]:
    """What a benchmark published into `directory`; nothing when it published nothing."""
    figures_path, memory_path = directory / FIGURES_FILE, directory / MEMORY_FILE
    figures = (
        [Figure(**json.loads(line)) for line in figures_path.read_text().splitlines() if line]
        if figures_path.exists()
        else []
    )
    memory = json.loads(memory_path.read_text()) if memory_path.exists() else {}
    return figures, memory


def verdict(met: bool | None) -> str:
    return "-" if met is None else "MET" if met else "NOT MET"


def labelled_rows(title: str, rows: list[tuple[str, str]]) -> list[str]:
    """A benchmark's own report: its title, then label/value rows with the labels aligned."""
    width = max(len(label) for label, _ in rows)
    return [title, "", *(f"  {label:<{width}}  {value}".rstrip() for label, value in rows)]


def number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.0f}"


def render_table(rows: list[tuple[str, Figure]], missing: list[str] | None = None) -> str:
    """One line per (benchmark, figure): value, baseline, ratio, target, MET / NOT MET.
    `missing`: benchmarks that published nothing (they failed), listed as such."""
    head = ("benchmark", "figure", "value", "baseline (same run)", "ratio", "target", "verdict")
    cells = [
        (
            bench,
            f.name,
            f"{number(f.value)} {f.unit}",
            "-" if f.baseline is None else f"{number(f.baseline)} {f.baseline_unit}".rstrip(),
            "-" if f.ratio is None else f"{f.ratio:.2f}",
            f.target or "-",
            verdict(f.met),
        )
        for bench, f in rows
    ]
    cells += [
        (bench, "(no figures: the benchmark failed)", "", "", "", "", "") for bench in missing or []
    ]
    widths = [max(len(row[i]) for row in [head, *cells]) for i in range(len(head))]
    return "\n".join(
        "  "
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [head, *cells]
    )


def render_memory(peaks: dict[str, dict[str, int | None]]) -> str:
    """Peak resident memory (MiB) of each process (rows) in each benchmark (columns), and the
    highest of each process across them."""
    benches = list(peaks)
    processes = list(dict.fromkeys(p for memory in peaks.values() for p in memory))
    head = ["process", *benches, "highest"]
    rows = []
    for process in processes:
        values = [peaks[b].get(process) for b in benches]
        known = [v for v in values if v is not None]
        rows.append(
            [
                process,
                *("n/a" if v is None else f"{v / 1024:.0f}" for v in values),
                f"{max(known) / 1024:.0f}" if known else "n/a",
            ]
        )
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    return "\n".join(
        "  "
        + "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in [head, *rows]
    )
