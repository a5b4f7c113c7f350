"""Every benchmark in one run, and one table of their headline figures.

    python -m bench.all [--signup-args="--n 3000"] [--member-api-args=...]
                        [--notify-email-args=...] [--erasure-args=...] [--startups 3]

First times `make run`'s start-up (`kontingent dev up`: the broker, localstripe and the four
services on a fresh data directory, until every service serves) --startups times; then runs
bench.signup, bench.member_api, bench.notify_email and bench.erasure one after another, each
in a process of its own with its own arguments and printing its own report as when run alone;
then prints each headline figure with its baseline from the same run, the ratio and the target,
the start-up time, and each process's peak resident memory in each benchmark. A benchmark
measures: this exits 0 whether or not the targets are met, and says which.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import REPORT_DIR_ENV, Figure, load, render_memory, render_table
from kontingent_cli.devstack import Stack, StackConfig

# (module under bench/, its option here), in the order they run.
BENCHMARKS = (
    ("signup", "--signup-args"),
    ("member_api", "--member-api-args"),
    ("notify_email", "--notify-email-args"),
    ("erasure", "--erasure-args"),
)
STARTUP = "start-up"
HIGHEST = "all (highest)"


def time_startup() -> float:
    """Seconds from `Stack.start` on a fresh data directory until every service serves, as
    `make run` then prints "Ready"; random ports, so a running dev stack is no obstacle."""
    data_dir = Path(tempfile.mkdtemp(prefix="kontingent-bench-startup-"))
    stack = Stack(StackConfig(data_dir=data_dir, random_ports=True))
    try:
        started = time.monotonic()
        stack.start()
        return time.monotonic() - started
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def startup_figure(times: list[float]) -> Figure:
    return Figure(f"make run -> ready, median of {len(times)}", statistics.median(times), "s")


def memory_figures(peaks: dict[str, dict[str, int | None]]) -> list[Figure]:
    """Each process's highest peak resident memory across the benchmarks, in MiB."""
    highest: dict[str, int] = {}
    for memory in peaks.values():
        for process, kib in memory.items():
            if kib is not None:
                highest[process] = max(kib, highest.get(process, 0))
    return [Figure(f"peak RSS, {process}", kib / 1024, "MiB") for process, kib in highest.items()]


def run_benchmark(module: str, args: list[str], report_dir: Path) -> bool:
    env = {**os.environ, REPORT_DIR_ENV: str(report_dir)}
    print(f"\n=== bench.{module} {shlex.join(args)}", flush=True)
    done = subprocess.run([sys.executable, "-m", f"bench.{module}", *args], env=env, check=False)
    return done.returncode == 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.all",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for module, option in BENCHMARKS:
        parser.add_argument(
            option,
            default="",
            metavar="ARGS",
            help=f'arguments of bench.{module}, one string (write {option}="--n 100")',
        )
    parser.add_argument(
        "--startups", type=int, default=3, help="start-ups timed (default 3; 0 skips them)"
    )
    args = parser.parse_args(argv)
    if args.startups < 0:
        parser.error("--startups must be >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows: list[tuple[str, Figure]] = []
    failed: list[str] = []
    startups = []
    for i in range(args.startups):
        print(f"start-up {i + 1} of {args.startups} ...", file=sys.stderr, flush=True)
        startups.append(time_startup())
    if startups:
        rows.append((STARTUP, startup_figure(startups)))
    peaks: dict[str, dict[str, int | None]] = {}
    with tempfile.TemporaryDirectory(prefix="kontingent-bench-report-") as run_dir:
        for module, option in BENCHMARKS:
            report_dir = Path(run_dir) / module
            ok = run_benchmark(
                module, shlex.split(getattr(args, option[2:].replace("-", "_"))), report_dir
            )
            figures, memory = load(report_dir)
            rows += [(module, figure) for figure in figures]
            if not ok or not figures:
                failed.append(module)
            if memory:
                peaks[module] = memory
    rows += [(HIGHEST, figure) for figure in memory_figures(peaks)]
    print(f"\nKontingent benchmark report ({os.cpu_count()} CPUs)\n")
    print(render_table(rows, failed))
    if startups:
        print(
            "\n  start-up times (s): "
            + ", ".join(f"{t:.2f}" for t in startups)
            + "  (fresh data directory each time)"
        )
    if peaks:
        print(
            "\n  Peak resident memory (VmHWM, MiB) of each process over each benchmark's run "
            "(set-up and loaded phases):"
        )
        print(render_memory(peaks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
