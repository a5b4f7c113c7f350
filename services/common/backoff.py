"""How long work that keeps failing for a passing reason (its database or broker away) waits
before it tries again: longer each time, up to a cap, instead of failing and logging at its
own pace (some periodic jobs run every few milliseconds)."""

from __future__ import annotations

FIRST_PAUSE_S = 0.5
PAUSE_CAP_S = 5.0


def pause_after(interval_s: float, failures: int) -> float:
    """The wait before the next try of work done every `interval_s` (0: at once), after
    `failures` failed tries in a row."""
    if not failures:
        return interval_s
    return max(interval_s, min(PAUSE_CAP_S, FIRST_PAUSE_S * 2 ** (failures - 1)))
