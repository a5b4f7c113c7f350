"""How long work that failed for a passing reason waits before it tries again: longer each
time, up to a cap."""

from __future__ import annotations

import random

FIRST_PAUSE_S = 0.5
PAUSE_CAP_S = 5.0


def backoff_s(
    attempts: int, base_s: float, cap_s: float, rng: random.Random | None = None
) -> float:
    """Delay before the next attempt after `attempts` failures: exponential, capped, with
    equal jitter (half fixed, half random), so that retries of many requests spread out and
    none comes back at once."""
    ceiling = min(cap_s, base_s * 2 ** max(attempts - 1, 0))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def pause_after(interval_s: float, failures: int) -> float:
    """Periodic work (a job, a consumer waiting for its database) that keeps failing: the
    wait before the next try of work done every `interval_s` (0: at once), after
    `failures` failed tries in a row."""
    if not failures:
        return interval_s
    return max(interval_s, min(PAUSE_CAP_S, FIRST_PAUSE_S * 2 ** (failures - 1)))
