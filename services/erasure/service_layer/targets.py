"""The registry of erasure targets: every store and sub-processor the pipeline drives, each an
adapter with one method. Adding a target is one adapter and one entry; the key shredding is
always last, after every entry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.erasure.domain.outcomes import TargetResult
from services.erasure.domain.plan import TargetRule, check_order

KEY_TARGET = "keyring"


@dataclass(frozen=True)
class TargetJob:
    request_id: str
    org_id: str
    subject_id: str
    # What the targets this one comes after answered (e.g. notify's provider ids for Twilio).
    earlier: Mapping[str, TargetResult]
    # The member's address as captured when the request was verified; None if none was.
    email: Callable[[], Awaitable[str | None]]


class TargetAdapter(Protocol):
    async def erase(self, job: TargetJob) -> TargetResult:
        """Forget the subject; idempotent (a retry after a lost answer must be harmless).
        Raises TargetFailure (or any error) when the target did not answer yet."""
        ...


@dataclass(frozen=True)
class Target:
    name: str
    adapter: TargetAdapter
    after: tuple[str, ...] = ()


class TargetRegistry:
    def __init__(self, targets: Sequence[Target], key_shredding: TargetAdapter) -> None:
        names = [t.name for t in targets]
        if KEY_TARGET in names or len(set(names)) != len(names):
            raise ValueError(f"target names must be unique and not {KEY_TARGET!r}: {names}")
        last = Target(KEY_TARGET, key_shredding, after=tuple(names))
        self.targets = {t.name: t for t in [*targets, last]}
        self.rules = [TargetRule(t.name, t.after) for t in self.targets.values()]
        self.order = check_order(self.rules)

    def adapter(self, name: str) -> TargetAdapter:
        return self.targets[name].adapter
