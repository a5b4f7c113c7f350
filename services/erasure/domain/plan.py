"""An erasure plan: every registered target as a task, run once the targets it comes after
have answered, retried with capped exponential backoff and jitter until it does."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PENDING = "pending"
RETRYING = "retrying"
# The target accepted the work and confirms later (e.g. SendGrid's erase job): polled with
# backoff; the request cannot complete before the target confirms.
AWAITING_CONFIRMATION = "awaiting-vendor"  # fits the 20-character status column
DONE = "done"
# Every status but DONE, named so that queries for work left can use the (status, time) index.
UNFINISHED = (PENDING, RETRYING, AWAITING_CONFIRMATION)

# Attempts after which a target counts as stuck (the gauge an alert watches); it is still
# retried, and the request stays open.
STUCK_AFTER = 5


@dataclass(frozen=True)
class TargetRule:
    name: str
    after: tuple[str, ...] = ()


def check_order(rules: Iterable[TargetRule]) -> list[str]:
    """The targets in an order that honours every `after`; raises on an unknown name or a
    cycle (a registry mistake, found at start)."""
    pending = {rule.name: set(rule.after) for rule in rules}
    unknown = {a for after in pending.values() for a in after} - set(pending)
    if unknown:
        raise ValueError(f"targets come after unknown targets: {sorted(unknown)}")
    ordered: list[str] = []
    while pending:
        ready = sorted(name for name, after in pending.items() if after <= set(ordered))
        if not ready:
            raise ValueError(f"targets wait on each other: {sorted(pending)}")
        ordered.extend(ready)
        for name in ready:
            del pending[name]
    return ordered


def runnable(statuses: Mapping[str, str], rules: Iterable[TargetRule]) -> list[str]:
    """Targets not done whose predecessors are all done."""
    return [
        rule.name
        for rule in rules
        if statuses.get(rule.name, DONE) != DONE
        and all(statuses.get(a) == DONE for a in rule.after)
    ]
