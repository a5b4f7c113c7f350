"""Keyring use cases: hand out a subject's data key, create it once, shred it for good."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.erasure.adapters.key_store import KeyStore
from services.erasure.domain.keyring import new_data_key, subject_hash, unwrap, wrap
from services.erasure.domain.ledger import LedgerEntry, subject_key
from services.erasure.metrics import KEYS_CREATED, KEYS_SHREDDED

MAX_RESERVATION = 500


@dataclass(frozen=True)
class IssuedKey:
    key: bytes
    created_at: datetime


@dataclass(frozen=True)
class KeyState:
    org_id: str
    created_at: datetime
    shredded_at: datetime | None


class Keyring:
    def __init__(self, store: KeyStore, kek: bytes, ledger_key: bytes) -> None:
        self.store = store
        self.kek = kek
        self.ledger_key = ledger_key

    async def get_or_create(self, subject_id: str, org_id: str) -> IssuedKey:
        missing = {
            name: "required"
            for name, value in (("subject_id", subject_id), ("org_id", org_id))
            if not value
        }
        if missing:
            raise InvalidArgument(missing)
        found = await self.store.find(subject_hash(subject_id))
        if found is None:
            found, created = await self.store.insert_if_absent(
                subject_hash(subject_id), org_id, wrap(self.kek, subject_id, new_data_key())
            )
            if created:
                KEYS_CREATED.inc()
        return self._issue(subject_id, found)

    async def get(self, subject_id: str) -> IssuedKey:
        found = await self.store.find(subject_hash(subject_id))
        if found is None:
            raise NotFound(f"no data key for subject {subject_id}")
        return self._issue(subject_id, found)

    async def reserve(self, org_id: str, count: int) -> dict[str, IssuedKey]:
        """Keys for subjects that do not exist yet: fresh ids, bound to the org."""
        errors = {}
        if not org_id:
            errors["org_id"] = "required"
        if not 1 <= count <= MAX_RESERVATION:
            errors["count"] = f"between 1 and {MAX_RESERVATION}"
        if errors:
            raise InvalidArgument(errors)
        keys = {str(uuid.uuid4()): new_data_key() for _ in range(count)}
        created_at = await self.store.insert_many(
            org_id, {subject_hash(s): wrap(self.kek, s, k) for s, k in keys.items()}
        )
        KEYS_CREATED.inc(count)
        return {s: IssuedKey(k, created_at) for s, k in keys.items()}

    async def get_many(self, subject_ids: list[str]) -> dict[str, IssuedKey]:
        """Live keys of these subjects; the unknown and the shredded are left out."""
        by_hash = {subject_hash(s): s for s in subject_ids}
        rows = await self.store.find_many(list(by_hash))
        return {
            by_hash[row.subject_hash]: self._issue(by_hash[row.subject_hash], row)
            for row in rows
            if row.wrapped_key is not None
        }

    async def state(self, subject_id: str) -> KeyState | None:
        found = await self.store.find(subject_hash(subject_id))
        if found is None:
            return None
        return KeyState(found.org_id, found.created_at, found.shredded_at)

    async def shred(
        self,
        subject_id: str,
        org_id: str | None,
        scope: str,
        targets: tuple[str, ...] = (),
    ) -> tuple[datetime, bool]:
        """Returns when the key was shredded and whether it already had been. An org may
        shred only its own members' keys (org_id None: an internal caller). Every path to
        erasure ends here, so this is where the ledger entry is written: `scope` says which
        path (a request, the direct path, a replay), `targets` what was erased before."""
        found = await self.store.find(subject_hash(subject_id))
        if found is None or (org_id is not None and found.org_id != org_id):
            raise NotFound(f"no data key for subject {subject_id}")
        if found.shredded_at is not None:
            return found.shredded_at, True
        shredded_at = await self.store.shred(
            subject_hash(subject_id),
            lambda at: LedgerEntry(
                found.org_id,
                subject_key(self.ledger_key, found.org_id, subject_id),
                scope,
                targets,
                at,
            ),
        )
        if shredded_at is None:  # another replica shredded it meanwhile
            return await self.shred(subject_id, org_id, scope, targets)
        KEYS_SHREDDED.inc()
        return shredded_at, False

    def _issue(self, subject_id: str, row) -> IssuedKey:  # type: ignore[no-untyped-def]
        if row.wrapped_key is None:
            raise FailedPrecondition(f"the data key of subject {subject_id} was shredded")
        return IssuedKey(unwrap(self.kek, subject_id, row.wrapped_key), row.created_at)
