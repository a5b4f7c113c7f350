"""The notify email benchmark's records and report: the raw SDK phases and the service phase
(arrivals at the loopback SendGrid, pauses, CPU), the ratio against the target, the figures for
`make bench`'s table and the CPU table."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

from bench import procstat
from bench.common import Calls
from bench.report import Figure, labelled_rows, verdict

TARGET = 0.80
# Longer than this from SIGCONT to the first welcome, and the pause cost a consumer group
# rejoin (the broker answers a join after half the session timeout, 3 s in the stack).
REJOIN_S = 1.0


def rate(times: list[float], start: float | None = None) -> float:
    """Emails per second: from the first arrival to the last (the intervals between them),
    or, given `start`, from then to the last."""
    if start is not None:
        return len(times) / (times[-1] - start) if times and times[-1] > start else 0.0
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


@dataclass
class RawPhase:
    client_rate: float  # n / (first send -> last answer), as the threads saw it
    server_rate: float  # first -> last arrival at the server
    arrived: int
    client_cpu_ms: float  # this process's CPU per email (the SDK and its threads)


@dataclass
class ServicePhase:
    n: int
    registered: Calls = field(default_factory=Calls)
    paused_s: float = 0.0  # SIGSTOP -> SIGCONT
    relay_wait_s: float = 0.0  # last RegisterMember answer -> all N events in Kafka
    billing_wait_s: float = 0.0  # ... -> billing has consumed them (so it is idle after)
    resumed_at: float = 0.0  # SIGCONT, epoch seconds
    times: list[float] = field(default_factory=list)  # the N welcomes' arrivals
    recorded_s: float | None = None  # SIGCONT -> all N message-recorded events in Kafka
    cpu: dict[str, float | None] = field(default_factory=dict)
    cpu_wall_s: float = 0.0
    machine_busy: float | None = None
    load_before: str = ""
    timed_out: bool = False

    @property
    def first_s(self) -> float:
        """SIGCONT -> the first welcome at the server."""
        return self.times[0] - self.resumed_at if self.times else float("nan")

    @property
    def rejoined(self) -> bool:
        """Whether the first welcome took long enough for a consumer group rejoin."""
        return self.first_s > REJOIN_S

    @property
    def from_resume(self) -> float:
        return rate(self.times, self.resumed_at)

    @property
    def from_first(self) -> float:
        return rate(self.times)

    @property
    def headline(self) -> float:
        return self.from_first if self.rejoined else self.from_resume

    @property
    def longest_gap_s(self) -> float:
        return max((b - a for a, b in zip(self.times, self.times[1:], strict=False)), default=0.0)


def complete(args: argparse.Namespace, service: ServicePhase) -> bool:
    return len(service.registered.replies) == args.n and len(service.times) == args.n


def figures(
    args: argparse.Namespace, before: RawPhase, service: ServicePhase, after: RawPhase
) -> list[Figure]:
    raw = (before.server_rate + after.server_rate) / 2
    return [
        Figure(
            "welcome emails through notify",
            service.headline,
            "emails/s",
            raw,
            "emails/s raw SDK",
            f">= {TARGET:.0%} of raw",
            bool(raw) and service.headline / raw >= TARGET and complete(args, service),
        )
    ]


def render(
    args: argparse.Namespace, before: RawPhase, service: ServicePhase, after: RawPhase
) -> str:
    raw = (before.server_rate + after.server_rate) / 2
    ratio = service.headline / raw if raw else 0.0
    accepted = len(service.registered.replies)
    failed = sum(service.registered.failures.values())
    all_arrived = complete(args, service)
    recorded = "n/a" if service.recorded_s is None else f"{service.recorded_s:.2f} s"

    def raw_row(phase: RawPhase) -> str:
        return (
            f"{phase.server_rate:8.1f} emails/s at the server  "
            f"({phase.client_rate:.1f}/s as the threads saw it; {phase.arrived} arrived; "
            f"{phase.client_cpu_ms:.2f} ms CPU/email in the client)"
        )

    rows = [
        ("raw SDK, before", raw_row(before)),
        ("raw SDK, after", raw_row(after)),
        ("raw SDK, mean", f"{raw:8.1f} emails/s"),
        (
            "sign-ups while notify paused",
            f"{accepted} accepted, {failed} failed"
            + (f" {dict(sorted(service.registered.failures.items()))}" if failed else "")
            + f"; events in Kafka {service.relay_wait_s:.2f} s after the last answer, "
            f"consumed by billing {service.billing_wait_s:.2f} s after; "
            f"paused {service.paused_s:.1f} s",
        ),
        ("welcomes at the server", f"{len(service.times)} of {args.n}"),
        (
            "SIGCONT -> first welcome",
            f"{service.first_s:.2f} s  ("
            + ("a group rejoin: left out of the headline" if service.rejoined else "first batch")
            + ")",
        ),
        ("longest gap between welcomes", f"{1000 * service.longest_gap_s:.0f} ms"),
        (
            "through the service, from SIGCONT",
            f"{service.from_resume:8.1f} emails/s  (SIGCONT -> last arrival)"
            + ("" if service.rejoined else "  HEADLINE"),
        ),
        (
            "through the service, from first",
            f"{service.from_first:8.1f} emails/s  (first -> last arrival)"
            + ("  HEADLINE" if service.rejoined else ""),
        ),
        ("SIGCONT -> all recorded in Kafka", recorded),
        (
            f"ratio headline / raw mean (target >= {TARGET:.0%})",
            f"{ratio:.0%}  "
            + verdict(ratio >= TARGET and all_arrived)
            + ("" if all_arrived else " (not every welcome arrived)"),
        ),
        (
            "ratio vs raw before / after",
            " / ".join(
                f"{service.headline / p.server_rate:.0%}" if p.server_rate else "n/a"
                for p in (before, after)
            ),
        ),
    ]
    if service.timed_out:
        rows.append(("timeout", "the run hit its time limit; see 'welcomes at the server'"))
    title = (
        f"Kontingent notify email benchmark: N={args.n}, concurrency={args.concurrency}, "
        f"warm-up={args.warmup}, {os.cpu_count()} CPUs"
    )
    return "\n".join(labelled_rows(title, rows) + cpu_table(service))


def cpu_table(phase: ServicePhase) -> list[str]:
    """CPU seconds per process from SIGCONT until every welcome was recorded, and per email."""
    wall, cores = phase.cpu_wall_s, os.cpu_count() or 1
    busy = "n/a" if phase.machine_busy is None else f"{100 * phase.machine_busy:.0f}%"
    return [
        "",
        f"CPU from SIGCONT until all recorded ({wall:.2f} s wall; whole machine busy {busy} of "
        f"{cores} CPUs; load average before {phase.load_before}):",
        *procstat.cpu_rows(phase.cpu, wall, len(phase.times), "email"),
    ]
