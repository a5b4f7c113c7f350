"""The registry of erasure targets: every store and sub-processor the pipeline drives, each an
adapter with one method. Adding a target is one adapter and one entry; the key shredding is
always last, after every entry.

GDPR art. 19 (telling the recipients): a target that deletes at a sub-processor names it
(`Recipient`); when it held something of the member, its certificate entry records the
recipient as told, how and when. "Told" means what the vendor's API accepted: a deletion
call or an erasure job it answered with success, not a confirmation that the vendor has
finished. A recipient a store reports (its receipt's provider records) that no target deletes
at is recorded as not told, so the gap shows on the certificate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from services.common.timestamps import iso
from services.erasure.domain.certificate import NOTHING_HELD
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
    # What this target's last attempt left while awaiting its confirmation, if it did.
    progress: TargetResult | None = None


class TargetAdapter(Protocol):
    async def erase(self, job: TargetJob) -> TargetResult:
        """Forget the subject; idempotent (a retry after a lost answer must be harmless).
        Raises TargetFailure (or any error) when the target did not answer yet, and
        AwaitingConfirmation when it accepted the work but confirms later."""
        ...


@dataclass(frozen=True)
class Recipient:
    name: str  # as the sub-processor registry names it
    how: str  # the call that tells it, e.g. "DELETE of each message by SID"


@dataclass(frozen=True)
class Target:
    name: str
    adapter: TargetAdapter
    after: tuple[str, ...] = ()
    recipient: Recipient | None = None  # the sub-processor this target deletes at


class _RecordsRecipients:
    """Adds the art. 19 record to what the target answered."""

    def __init__(
        self,
        target: Target,
        targets: frozenset[str],
        now: Callable[[], datetime],
    ) -> None:
        self.target = target
        self.targets = targets
        self.now = now

    async def erase(self, job: TargetJob) -> TargetResult:
        result = await self.target.adapter.erase(job)
        at = iso(self.now()) or ""
        told = [
            {
                "recipient": provider,
                "told": False,
                "how": "no erasure target deletes there",
                "at": at,
            }
            for provider in sorted(result.provider_records)
            if result.provider_records[provider] and provider not in self.targets
        ]
        recipient = self.target.recipient
        if recipient is not None and result.headline() != NOTHING_HELD:
            told.append(
                {
                    "recipient": recipient.name,
                    "told": True,
                    "how": f"{recipient.how}, accepted by its API",
                    "at": at,
                }
            )
        return replace(result, recipients=[*result.recipients, *told]) if told else result


class TargetRegistry:
    def __init__(
        self,
        targets: Sequence[Target],
        key_shredding: TargetAdapter,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        names = [t.name for t in targets]
        if KEY_TARGET in names or len(set(names)) != len(names):
            raise ValueError(f"target names must be unique and not {KEY_TARGET!r}: {names}")
        last = Target(KEY_TARGET, key_shredding, after=tuple(names))
        known = frozenset(names)
        self.targets = {
            t.name: replace(t, adapter=_RecordsRecipients(t, known, now)) for t in targets
        }
        self.targets[KEY_TARGET] = last
        self.rules = [TargetRule(t.name, t.after) for t in self.targets.values()]
        self.order = check_order(self.rules)

    def adapter(self, name: str) -> TargetAdapter:
        return self.targets[name].adapter
