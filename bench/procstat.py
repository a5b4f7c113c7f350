"""CPU time and peak memory of processes from /proc (Linux; no psutil needed)."""

from __future__ import annotations

import os

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | str) -> float | None:
    """utime + stime of one process in seconds, or None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            raw = stat.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _TICKS


def snapshot(pids: dict[str, int]) -> dict[str, float | None]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def used(
    before: dict[str, float | None], after: dict[str, float | None]
) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, start in before.items():
        end = after.get(name)
        out[name] = None if start is None or end is None else end - start
    return out


def machine_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, from the first line of /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def machine_busy(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Share of all CPUs busy between two machine_jiffies() readings, 0..1."""
    if before is None or after is None or after[1] == before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def busy_seconds(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """CPU seconds all CPUs together were busy between two machine_jiffies() readings."""
    if before is None or after is None:
        return None
    return (after[0] - before[0]) / _TICKS


def load_average() -> str:
    try:
        with open("/proc/loadavg") as loadavg:
            return " ".join(loadavg.read().split()[:3])
    except OSError:
        return "n/a"


def cpu_rows(cpu: dict[str, float | None], wall_s: float, count: int, unit: str) -> list[str]:
    """A table of each process's CPU seconds, its share of one core over `wall_s` and its
    milliseconds per `unit` (`count` of them), busiest first, then the total."""
    each_head = f"ms/{unit}"
    width = len(each_head) + 2
    measured = sorted(((n, s) for n, s in cpu.items() if s is not None), key=lambda kv: -kv[1])

    def row(name: str, seconds: float) -> str:
        share = 100 * seconds / wall_s if wall_s else 0.0
        each = f"{1000 * seconds / count:.2f}" if count else "n/a"
        return f"  {name:<22}{seconds:>8.2f}{share:>12.0f}%{each:>{width}}"

    lines = [f"  {'process':<22}{'cpu s':>8}{'% of 1 core':>13}{each_head:>{width}}"]
    lines += [row(name, seconds) for name, seconds in measured]
    lines += [f"  {name:<22}{'n/a':>8}" for name, s in cpu.items() if s is None]
    if wall_s:
        lines.append(row("total", sum(s for _, s in measured)))
    return lines


def peak_rss_kib(pid: int | str) -> int | None:
    """The process's peak resident set size (VmHWM) in KiB, or None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None
