"""Recording and reading a member's sessions. Details are personal data (an IP address is),
so they are sealed with the member's key; only the newest KEEP_LAST entries are kept."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from services.common.errors import NotFound
from services.membership.adapters import login_log
from services.membership.domain.logins import KEEP_LAST, LoginDetails, validate_login
from services.membership.service_layer.handlers import MembershipHandlers

SEALED_FIELD = "login_details"


@dataclass(frozen=True)
class Login:
    kind: str
    at: datetime
    details: LoginDetails


class LoginLog:
    def __init__(self, handlers: MembershipHandlers) -> None:
        self.handlers = handlers
        self.database = handlers.database

    async def record(
        self,
        org_id: str,
        member_id: str,
        kind: str,
        at: datetime | None,
        device: str,
        ip: str,
        country: str,
        city: str,
    ) -> Login:
        details = validate_login(kind, device, ip, country, city)
        await self._require_member(org_id, member_id)
        sealed = await self.handlers.sealer.seal(
            member_id, {SEALED_FIELD: json.dumps(asdict(details))}
        )
        at = at or datetime.now(UTC)
        async with self.database.transaction() as session:
            await login_log.append_keeping_last(
                session, org_id, member_id, at, kind, sealed[SEALED_FIELD], KEEP_LAST
            )
        return Login(kind, at, details)

    async def list(self, org_id: str, member_id: str) -> list[Login]:
        await self._require_member(org_id, member_id)
        return await self.entries(org_id, member_id)

    async def _require_member(self, org_id: str, member_id: str) -> None:
        """NOT_FOUND for a member the org does not have (another org's, too)."""
        if await self.handlers.reader.get(org_id, member_id) is None:
            raise NotFound(f"member {member_id} not found")

    async def entries(self, org_id: str, member_id: str) -> list[Login]:
        """The member's sessions, newest first, unsealed."""
        async with self.database.sessions() as session:
            rows = await login_log.newest_first(session, org_id, member_id)
        logins = []
        for row in rows:
            plain = await self.handlers.sealer.unseal(member_id, {SEALED_FIELD: row.details_sealed})
            logins.append(Login(row.kind, row.at, LoginDetails(**json.loads(plain[SEALED_FIELD]))))
        return logins
