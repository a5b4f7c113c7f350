"""The member-API benchmark's records and report: each phase's calls and CPU, the real/bare
ratios against the targets, the figures for `make bench`'s table and the CPU table."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from bench.common import Calls, percentile
from bench.report import Figure, verdict

# Real rate / bare rate each method should reach.
TARGETS = {"GetMember": 0.60, "RegisterMember": 0.30}


@dataclass
class PhaseResult:
    target: str  # "bare", "real" or "alone" (real, billing and notify paused)
    method: str
    calls: Calls
    cpu: dict[str, float | None]  # process -> CPU seconds during the measured calls
    cpu_wall_s: float  # the window the CPU figures cover
    machine_busy_s: float | None  # CPU seconds of the whole machine in that window
    keyring_calls: float | None  # made by membership during the measured calls

    @property
    def label(self) -> str:
        return f"{self.target} {self.method}"

    @property
    def ok(self) -> int:
        return len(self.calls.answered_at)

    @property
    def wall_s(self) -> float:
        """First call sent -> last answer received."""
        if not self.calls.answered_at:
            return float("nan")
        return max(self.calls.answered_at.values()) - min(self.calls.sent_at.values())

    @property
    def rate(self) -> float:
        """Successful calls per second."""
        wall = self.wall_s
        return self.ok / wall if self.ok and wall > 0 else 0.0

    def latencies(self) -> list[float]:
        sent, answered = self.calls.sent_at, self.calls.answered_at
        return sorted(answered[i] - sent[i] for i in answered)

    @property
    def others_s(self) -> float | None:
        """CPU seconds used by processes that are not part of this benchmark."""
        if self.machine_busy_s is None:
            return None
        return max(0.0, self.machine_busy_s - sum(s for s in self.cpu.values() if s is not None))


@dataclass
class Report:
    args: argparse.Namespace
    members: int
    phases: list[PhaseResult]
    load_before: str


def met(ratio: float, target: float, real: PhaseResult) -> bool:
    return ratio >= target and not real.calls.failures


def figures(report: Report) -> list[Figure]:
    by_label = {phase.label: phase for phase in report.phases}
    out = []
    for method, target in TARGETS.items():
        bare, real = by_label.get(f"bare {method}"), by_label.get(f"real {method}")
        if bare is None or real is None:
            continue
        out.append(
            Figure(
                f"{method} through membership",
                real.rate,
                "calls/s",
                bare.rate,
                "calls/s bare handler",
                f">= {100 * target:.0f}% of bare",
                bool(bare.rate) and met(real.rate / bare.rate, target, real),
            )
        )
    return out


def render(report: Report) -> str:
    args = report.args
    lines = [
        f"Kontingent member-API benchmark: N={args.n} per phase, concurrency={args.concurrency}, "
        f"warm-up={args.warmup} per phase, {report.members} members to read, "
        f"{os.cpu_count()} CPUs, load average before {report.load_before}",
        "",
        f"  {'phase':<21}{'ok':>7}{'failed':>8}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'max ms':>9}  failures",
    ]
    for phase in report.phases:
        lat = phase.latencies()
        failed = sum(phase.calls.failures.values())
        lines.append(
            f"  {phase.label:<21}{phase.ok:>7}{failed:>8}{phase.rate:>10.0f}"
            + "".join(f"{percentile(lat, q) * 1000:>9.1f}" for q in (50, 99, 100))
            + (f"  {dict(sorted(phase.calls.failures.items()))}" if failed else "")
        )
    lines += ["", "  real / bare (calls/s):"]
    by_label = {phase.label: phase for phase in report.phases}
    for method, target in TARGETS.items():
        bare, real = by_label.get(f"bare {method}"), by_label.get(f"real {method}")
        if bare is None or real is None or not bare.rate:
            lines.append(f"    {method:<16} n/a")
            continue
        ratio = real.rate / bare.rate
        failed = sum(real.calls.failures.values())
        said = verdict(met(ratio, target, real))
        if failed:
            said += f" ({failed} real calls failed)"
        lines.append(
            f"    {method:<16}{100 * ratio:>5.1f}%   ({real.rate:.0f} / {bare.rate:.0f})   "
            f"target >= {100 * target:.0f}%   {said}"
        )
    alone, bare = by_label.get("alone RegisterMember"), by_label.get("bare RegisterMember")
    if alone is not None and bare is not None and bare.rate:
        lines.append(
            "    (RegisterMember with billing and notify paused: "
            f"{100 * alone.rate / bare.rate:.1f}%, {alone.rate:.0f} / {bare.rate:.0f}; "
            "for comparison, not the target's measure)"
        )
    lines += cpu_table(report.phases)
    return "\n".join(lines)


def cpu_table(phases: list[PhaseResult]) -> list[str]:
    """CPU milliseconds per successful call by process, per phase: where the time goes."""
    cores = os.cpu_count() or 1
    names = [n for n in phases[0].cpu if any((p.cpu.get(n) or 0) >= 0.005 for p in phases)]
    rows: list[tuple[str, list[str]]] = []

    def per_call(seconds: float | None, phase: PhaseResult) -> str:
        return "n/a" if seconds is None or not phase.ok else f"{1000 * seconds / phase.ok:.3f}"

    for name in names:
        rows.append((name, [per_call(p.cpu.get(name), p) for p in phases]))
    rows.append(("not this benchmark", [per_call(p.others_s, p) for p in phases]))
    rows.append(
        (
            "machine busy",
            [
                "n/a"
                if p.machine_busy_s is None
                else f"{100 * p.machine_busy_s / (cores * p.cpu_wall_s):.0f}%"
                for p in phases
            ],
        )
    )
    busiest = []
    for p in phases:
        name, seconds = max(
            ((n, s) for n, s in p.cpu.items() if s is not None), key=lambda kv: kv[1]
        )
        busiest.append(f"{name.split()[0]} {100 * seconds / p.cpu_wall_s:.0f}%")
    rows.append(("busiest (% of 1 core)", busiest))
    rows.append(
        (
            "keyring calls",
            [
                "-" if p.target == "bare" or p.keyring_calls is None else f"{p.keyring_calls:.0f}"
                for p in phases
            ],
        )
    )
    width = max(11, *(len(cell) + 2 for _, cells in rows for cell in cells))
    lines = [
        "",
        "  CPU ms per successful call during each measured phase, by process:",
        f"    {'':<22}" + "".join(f"{p.target:>{width}}" for p in phases),
        f"    {'':<22}" + "".join(f"{p.method:>{width}}" for p in phases),
    ]
    lines += [f"    {label:<22}" + "".join(f"{c:>{width}}" for c in cells) for label, cells in rows]
    others = max((p.others_s or 0) / p.cpu_wall_s for p in phases)
    if others > 0.1:
        lines.append(
            f"  note: other processes used up to {100 * others:.0f}% of a core during a phase; "
            "the figures are disturbed"
        )
    return lines
