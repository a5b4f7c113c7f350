"""The real Sealer with its keys held in this process, as the keyring would hand them out, for
tests and benchmarks that run a service's code without the keyring. A member without a key
here is one whose key was shredded."""

from __future__ import annotations

import os
import uuid

from services.common.sealing import Sealer, SubjectForgotten


class LocalKeys(Sealer):
    def __init__(self) -> None:
        super().__init__(keyring=None, cache_ttl_s=3600.0, max_cached=1_000_000)  # type: ignore[arg-type]

    def new_member(self, key: bytes | None = None) -> str:
        member_id = str(uuid.uuid4())
        self.remember(member_id, key or os.urandom(32))
        return member_id

    async def _fetch(self, subject_id: str) -> None:
        raise SubjectForgotten(f"subject {subject_id} has no data key")

    async def prefetch(self, subject_ids: list[str]) -> None:
        return None
