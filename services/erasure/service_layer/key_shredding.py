"""The last target of every erasure: the member's data key, held in this service."""

from __future__ import annotations

from services.common.timestamps import iso
from services.erasure.domain.certificate import KEY_SHREDDED
from services.erasure.domain.ledger import request_scope, subject_key
from services.erasure.domain.outcomes import TargetResult
from services.erasure.service_layer.keyring import Keyring
from services.erasure.service_layer.targets import TargetJob


class KeyShredding:
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def erase(self, job: TargetJob) -> TargetResult:
        scope = request_scope(job.request_id)
        shredded_at, already = await self.keyring.shred(
            job.subject_id, job.org_id, scope, tuple(sorted(job.earlier))
        )
        if already:
            # Shredded by this request's earlier attempt whose answer was lost (a crash
            # between shredding and recording, or another replica), or by another path.
            key = subject_key(self.keyring.ledger_key, job.org_id, job.subject_id)
            already = not await self.keyring.store.shredded_in(job.org_id, key, scope)
        return TargetResult(
            removed=[
                {
                    "category": "data-key",
                    "description": "the member's data key: every sealed copy, in backups and "
                    "logs too, is unreadable",
                    "count": 1,
                }
            ],
            note=f"shredded at {iso(shredded_at)}" + (" (before this request)" if already else ""),
            action=KEY_SHREDDED,
        )
