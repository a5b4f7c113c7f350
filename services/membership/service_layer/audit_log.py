"""Reading the audit log: an org's admins page through it, newest first."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Row

from services.common.db.engine import Database
from services.common.errors import InvalidArgument
from services.membership.adapters import audit
from services.membership.domain.validation import page_limit


@dataclass(frozen=True)
class AuditPage:
    entries: list[Row]
    next_token: str


async def audit_page(database: Database, org_id: str, page_size: int, token: str) -> AuditPage:
    """Newest first; the token is the id of the last entry of the previous page."""
    limit = page_limit(page_size)
    if token and not token.isdigit():
        raise InvalidArgument({"page_token": "not a token from a previous page"})
    async with database.sessions() as session:
        rows = await audit.page(session, org_id, limit, int(token) if token else None)
    return AuditPage(rows, str(rows[-1].id) if len(rows) == limit else "")
