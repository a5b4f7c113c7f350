"""The benchmark report: figures written by a benchmark, read back by bench.all, and the
table it prints."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from bench import all as bench_all
from bench import procstat
from bench.erasure_report import DrainPhase, LatencyPhase, Sample, figures
from bench.report import (
    REPORT_DIR_ENV,
    Figure,
    labelled_rows,
    load,
    publish,
    publish_memory,
    render_memory,
    render_table,
)


def test_ratio_is_value_over_baseline_and_absent_without_one() -> None:
    assert Figure("x", 240.0, "/s", 300.0, "/s").ratio == pytest.approx(0.8)
    assert Figure("x", 240.0, "/s").ratio is None
    assert Figure("x", 240.0, "/s", 0.0, "/s").ratio is None


def test_a_benchmark_publishes_into_the_report_dir_and_bench_all_reads_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REPORT_DIR_ENV, str(tmp_path / "signup"))
    first = Figure("a", 1.5, "s", target="< 2 s", met=True)
    second = Figure("b", 120.0, "/s", 100.0, "/s raw", ">= 80% of raw", False)
    publish([first])
    publish([second])
    publish_memory({"membership": 81920, "broker": None})

    assert load(tmp_path / "signup") == ([first, second], {"membership": 81920, "broker": None})


def test_run_alone_a_benchmark_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(REPORT_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    publish([Figure("a", 1.0, "s")])
    publish_memory({"membership": 1})
    assert list(tmp_path.iterdir()) == []
    assert load(tmp_path) == ([], {})


def test_table_has_value_baseline_ratio_target_and_verdict_per_figure() -> None:
    table = render_table(
        [
            ("signup", Figure("sign-ups", 350.0, "/s", 1400.0, "msgs/s", ">= 300 /s", True)),
            ("notify_email", Figure("emails", 700.0, "/s", 1000.0, "/s", ">= 80%", False)),
            ("start-up", Figure("make run -> ready", 4.25, "s")),
        ],
        missing=["erasure"],
    )
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["benchmark", "figure", "value"]
    signup, notify, startup, erasure = lines[1:]
    assert "350 /s" in signup and "1400 msgs/s" in signup and "0.25" in signup
    assert signup.rstrip().endswith("MET") and "NOT MET" not in signup
    assert "0.70" in notify and notify.rstrip().endswith("NOT MET")
    assert "4.25 s" in startup and startup.rstrip().endswith("-")
    assert "erasure" in erasure and "failed" in erasure


def test_memory_table_in_mib_with_the_highest_per_process() -> None:
    table = render_memory(
        {
            "signup": {"membership": 100 * 1024, "notify": None},
            "erasure": {"membership": 150 * 1024, "notify": 90 * 1024},
        }
    )
    head, membership, notify = table.splitlines()
    assert head.split() == ["process", "signup", "erasure", "highest"]
    assert membership.split() == ["membership", "100", "150", "150"]
    assert notify.split() == ["notify", "n/a", "90", "90"]


def test_a_benchmarks_own_rows_align_their_values_after_the_title() -> None:
    lines = labelled_rows("Title", [("rate", "12 /s"), ("target >= 10 /s", "MET"), ("empty", "")])
    assert lines == ["Title", "", "  rate             12 /s", "  target >= 10 /s  MET", "  empty"]


def test_highest_peak_per_process_across_benchmarks_becomes_a_figure() -> None:
    got = bench_all.memory_figures(
        {"signup": {"billing": 2048, "broker": None}, "erasure": {"billing": 4096}}
    )
    assert got == [Figure("peak RSS, billing", 4.0, "MiB")]


def test_startup_figure_is_the_median_of_the_runs() -> None:
    assert bench_all.startup_figure([5.0, 3.0, 4.0]) == Figure(
        "make run -> ready, median of 3", 4.0, "s"
    )


def test_each_benchmarks_arguments_pass_through_as_one_string() -> None:
    args = bench_all.parse_args(["--signup-args=--n 300 --concurrency 8", "--startups", "0"])
    assert args.signup_args == "--n 300 --concurrency 8"
    assert args.erasure_args == ""
    with pytest.raises(SystemExit):
        bench_all.parse_args(["--startups", "-1"])


def test_peak_rss_reads_vmhwm_and_is_none_for_a_process_that_is_gone() -> None:
    kib = procstat.peak_rss_kib(os.getpid())
    assert kib is not None and kib > 1024  # a Python process holds more than a MiB
    assert procstat.peak_rss_kib(2**22 + 1) is None  # above the kernel's pid limit


def test_erasure_figures_judge_p99_and_drain_against_their_targets() -> None:
    args = argparse.Namespace(sample=2)
    latency = LatencyPhase([Sample(0.0, 0.1, 0.5, 0.6, {}), Sample(10.0, 10.1, 13.0, 13.1, {})])
    drain = DrainPhase(n=2, verify_sent={0: 0.0, 1: 0.0}, completed=[0.01, 0.02])
    p99, rate = figures(args, latency, drain)
    assert p99.value == pytest.approx(3.0) and p99.met is False and p99.baseline is None
    assert rate.value == pytest.approx(100.0) and rate.met is True
