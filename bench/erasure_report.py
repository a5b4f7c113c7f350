"""What the erasure benchmark (bench.erasure) measured, phase by phase, and its report
against the targets of issue 6."""

from __future__ import annotations

import argparse
import os
from collections import Counter
from dataclasses import dataclass, field
from statistics import median

from bench import procstat
from bench.common import percentile
from bench.report import Figure, labelled_rows, verdict

TARGET_P99_S = 2.0
TARGET_RATE = 100.0


@dataclass
class Sample:
    filed_at: float  # FileRequest sent
    verified_at: float  # VerifyIdentity answered
    completed_at: float  # the event's occurred_at
    certificate_at: float  # GetCertificate answered, the request `completed`
    target_done_s: dict[str, float]  # target -> finished, seconds after the identity check


@dataclass
class LatencyPhase:
    samples: list[Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def latencies(self) -> list[float]:
        return sorted(s.completed_at - s.filed_at for s in self.samples)

    def observed(self) -> list[float]:
        return sorted(s.certificate_at - s.filed_at for s in self.samples)


@dataclass
class DrainPhase:
    n: int
    filed_sent: dict[int, float] = field(default_factory=dict)
    verify_sent: dict[int, float] = field(default_factory=dict)
    verified_at: dict[int, float] = field(default_factory=dict)
    request_ids: dict[int, str] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    completed: list[float] = field(default_factory=list)  # occurred_at, ascending
    cpu: dict[str, float | None] = field(default_factory=dict)
    cpu_wall_s: float = 0.0
    machine_busy: float | None = None
    timed_out: bool = False

    @property
    def filing_rate(self) -> float:
        if not self.verified_at:
            return 0.0
        return len(self.verified_at) / (
            max(self.verified_at.values()) - min(self.filed_sent.values())
        )

    @property
    def drain_rate(self) -> float:
        if not self.completed or not self.verify_sent:
            return 0.0
        return len(self.completed) / (self.completed[-1] - min(self.verify_sent.values()))

    @property
    def after_filing(self) -> tuple[int, float]:
        """Completions after the last VerifyIdentity answer, and their rate from then."""
        if not self.verified_at:
            return 0, 0.0
        end = max(self.verified_at.values())
        later = [t for t in self.completed if t > end]
        if not later or later[-1] <= end:
            return len(later), 0.0
        return len(later), len(later) / (later[-1] - end)


def verdicts(
    args: argparse.Namespace, latency: LatencyPhase, drain: DrainPhase
) -> tuple[float, bool, bool]:
    """(latency p99 in seconds, latency target met, drain target met)."""
    p99 = percentile(latency.latencies(), 99)
    lat_ok = len(latency.samples) == args.sample and not latency.failures and p99 < TARGET_P99_S
    complete = len(drain.completed) == drain.n and not drain.failures
    return p99, lat_ok, complete and drain.drain_rate >= TARGET_RATE


def figures(args: argparse.Namespace, latency: LatencyPhase, drain: DrainPhase) -> list[Figure]:
    """Issue 6 set absolute targets: there is no baseline to measure beside them."""
    p99, lat_ok, rate_ok = verdicts(args, latency, drain)
    return [
        Figure(
            "erasure request -> completed, p99",
            p99,
            "s",
            target=f"< {TARGET_P99_S:g} s",
            met=lat_ok,
        ),
        Figure(
            "erasure drain",
            drain.drain_rate,
            "erasures/s",
            target=f">= {TARGET_RATE:g} erasures/s",
            met=rate_ok,
        ),
    ]


def render(args: argparse.Namespace, latency: LatencyPhase, drain: DrainPhase) -> str:
    lat = latency.latencies()
    obs = latency.observed()
    _, lat_ok, rate_ok = verdicts(args, latency, drain)
    later, later_rate = drain.after_filing
    first_verify = min(drain.verify_sent.values(), default=0.0)
    last_done = drain.completed[-1] - first_verify if drain.completed else float("nan")

    def spread(values: list[float]) -> str:
        p50, p99 = (1000 * percentile(values, q) for q in (50, 99))
        top = 1000 * max(values, default=float("nan"))
        return f"p50 {p50:.0f} ms  p99 {p99:.0f} ms  max {top:.0f} ms"

    rows = [
        (
            "latency samples",
            f"{len(latency.samples)} of {args.sample}, one at a time"
            + (f"; failures: {latency.failures[:3]}" if latency.failures else ""),
        ),
        (
            "request -> completed (event)",
            spread(lat),
        ),
        (
            "request -> certificate answered",
            spread(obs),
        ),
        (
            f"latency p99 < {TARGET_P99_S:g} s",
            verdict(lat_ok),
        ),
        (
            "drain erasures",
            f"{len(drain.verified_at)} filed and verified, "
            f"{len(drain.completed)} completed of {drain.n}"
            + (f"; failed calls {dict(drain.failures)}" if drain.failures else ""),
        ),
        (
            "filing rate",
            f"{drain.filing_rate:8.1f} requests/s  (FileRequest + VerifyIdentity, "
            f"{args.concurrency} in flight)",
        ),
        (
            "drain rate",
            f"{drain.drain_rate:8.1f} erasures/s  (first VerifyIdentity -> last completion, "
            f"{last_done:.2f} s)",
        ),
        (
            "after filing ended",
            f"{later_rate:8.1f} erasures/s  ({later} completions after the last verify answer)",
        ),
        (f"drain >= {TARGET_RATE:g} erasures/s", verdict(rate_ok)),
    ]
    if drain.timed_out:
        rows.append(("timeout", "the drain hit its time limit; see 'drain erasures'"))
    lines = labelled_rows(
        f"Kontingent erasure benchmark: sample={args.sample}, N={args.n}, "
        f"concurrency={args.concurrency}, {os.cpu_count()} CPUs",
        rows,
    )
    if latency.samples:
        targets: dict[str, list[float]] = {}
        for s in latency.samples:
            for target, at in s.target_done_s.items():
                targets.setdefault(target, []).append(at)
        verify_ms = median(1000 * (s.verified_at - s.filed_at) for s in latency.samples)
        complete_ms = median(1000 * (s.completed_at - s.verified_at) for s in latency.samples)
        lines += [
            "",
            "Latency sample, medians: FileRequest sent -> VerifyIdentity answered "
            f"{verify_ms:.0f} ms; verify answered -> completed {complete_ms:.0f} ms; "
            "each target finished, after the identity check:",
            "  "
            + "  ".join(
                f"{t} {1000 * median(v):.0f} ms"
                for t, v in sorted(targets.items(), key=lambda kv: median(kv[1]))
            ),
        ]
    busy = "n/a" if drain.machine_busy is None else f"{100 * drain.machine_busy:.0f}%"
    lines += [
        "",
        f"CPU over the drain phase ({drain.cpu_wall_s:.2f} s wall, first FileRequest -> last "
        f"completion seen; whole machine busy {busy} of {os.cpu_count()} CPUs):",
        *procstat.cpu_rows(drain.cpu, drain.cpu_wall_s, len(drain.completed), "erasure"),
    ]
    return "\n".join(lines)
