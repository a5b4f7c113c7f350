"""API-key use cases: an org's admins create, list, revoke and rotate its keys. Every change
is audited; a revoked key stops working at once here and within the cache time elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.engine import Database
from services.common.errors import FailedPrecondition, NotFound
from services.common.grpc.auth import ORG_SCOPES, SCOPE_ORG_ADMIN, Principal
from services.membership.adapters import audit
from services.membership.adapters.audit import Change
from services.membership.adapters.repository import Repository
from services.membership.domain import api_keys


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    label: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: Row) -> KeyInfo:
        return cls(row.key_id, row.label, tuple(row.scopes.split()), row.created_at, row.revoked_at)


class ApiKeyHandlers:
    def __init__(self, database: Database, on_revoked: Callable[[str], None]) -> None:
        self.database = database
        self.on_revoked = on_revoked

    async def create(self, caller: Principal, scopes: list[str], label: str) -> tuple[KeyInfo, str]:
        granted = api_keys.validate_scopes(scopes, ORG_SCOPES)
        label = api_keys.validate_label(label)
        async with self.database.transaction() as session:
            return await mint_key(
                session, caller.org_id, caller.actor, granted, label, "api-key.created"
            )

    async def list(self, org_id: str, include_revoked: bool) -> list[KeyInfo]:
        async with self.database.sessions() as session:
            rows = await Repository(session).api_keys_of(org_id, include_revoked)
        return [KeyInfo.of(row) for row in rows]

    async def revoke(self, caller: Principal, key_id: str) -> KeyInfo:
        now = datetime.now(UTC)
        async with self.database.transaction() as session:
            row = await self._active_key(session, caller.org_id, key_id)
            await self._refuse_last_admin_key(session, caller.org_id, row)
            await _revoke(session, caller, key_id, now)
        self.on_revoked(key_id)
        return replace(KeyInfo.of(row), revoked_at=now)

    async def rotate(self, caller: Principal, key_id: str) -> tuple[KeyInfo, str]:
        async with self.database.transaction() as session:
            old = await self._active_key(session, caller.org_id, key_id)
            await _revoke(session, caller, key_id, datetime.now(UTC))
            created = await mint_key(
                session,
                caller.org_id,
                caller.actor,
                tuple(old.scopes.split()),
                old.label,
                "api-key.rotated",
            )
        self.on_revoked(key_id)
        return created

    @staticmethod
    async def _active_key(session: AsyncSession, org_id: str, key_id: str) -> Row:
        row = await Repository(session).api_key(key_id)
        if row is None or row.org_id != org_id or row.revoked_at is not None:
            raise NotFound(f"no active API key {key_id}")
        return row

    @staticmethod
    async def _refuse_last_admin_key(session: AsyncSession, org_id: str, row: Row) -> None:
        if SCOPE_ORG_ADMIN not in row.scopes.split():
            return
        admins = [
            k
            for k in await Repository(session).api_keys_of(org_id, False)
            if SCOPE_ORG_ADMIN in k.scopes.split()
        ]
        if len(admins) <= 1:
            raise FailedPrecondition(
                "this is the org's last admin key: create another admin key first, "
                "or rotate this one"
            )


async def mint_key(
    session: AsyncSession,
    org_id: str,
    actor: str,
    scopes: tuple[str, ...],
    label: str,
    action: str,
) -> tuple[KeyInfo, str]:
    """A new key of the org, stored hashed and audited; the plaintext is returned once."""
    minted = api_keys.mint()
    now = datetime.now(UTC)
    await Repository(session).add_api_key(
        minted.key_id, org_id, minted.secret_hash, scopes, now, label
    )
    await audit.record(session, org_id, Change(actor, action, minted.key_id, ("scopes", "label")))
    return KeyInfo(minted.key_id, label, scopes, now, None), minted.plaintext


async def _revoke(session: AsyncSession, caller: Principal, key_id: str, now: datetime) -> None:
    await Repository(session).revoke_api_key(key_id, now)
    await audit.record(
        session, caller.org_id, Change(caller.actor, "api-key.revoked", key_id, ("revoked_at",))
    )
