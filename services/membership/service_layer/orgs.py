"""The org's own profile: contact details members see, name and language."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from services.common.db.engine import Database
from services.common.errors import InvalidArgument, NotFound
from services.common.grpc.auth import Principal
from services.membership.adapters import audit
from services.membership.adapters.audit import Change
from services.membership.adapters.repository import Repository
from services.membership.domain.forms import normalise_phone
from services.membership.domain.orgs import OrgProfile
from services.membership.domain.validation import LANGUAGES, MAX_NAME
from services.membership.service_layer.handlers import MembershipHandlers

UPDATABLE = ("name", "language", "contact_email", "contact_phone", "contact_address")
MAX_ADDRESS = 300
DEFAULT_CONTACTS_PAGE = 100
MAX_CONTACTS_PAGE = 500


@dataclass(frozen=True)
class OrgContact:
    org_id: str
    name: str
    contact_email: str
    language: str


async def org_contacts_page(
    database: Database, page_size: int, page_token: str
) -> tuple[list[OrgContact], str]:
    """Every org's own contact, a page at a time (the page token is the last org id seen);
    the next page's token, empty after the last page. For the platform's notices to orgs
    (internal callers only)."""
    if not 0 <= page_size <= MAX_CONTACTS_PAGE:
        raise InvalidArgument({"page_size": f"between 1 and {MAX_CONTACTS_PAGE} (0: 100)"})
    limit = page_size or DEFAULT_CONTACTS_PAGE
    async with database.sessions() as session:
        rows = await Repository(session).org_contacts(page_token, limit + 1)
    page = [OrgContact(r.id, r.name, r.contact_email, r.language) for r in rows[:limit]]
    return page, page[-1].org_id if len(rows) > limit else ""


def validate_org_changes(changes: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(changes) - set(UPDATABLE))
    if not changes or unknown:
        raise InvalidArgument(
            {
                "update_mask": f"name one or more of {', '.join(UPDATABLE)}"
                + (f"; not {', '.join(unknown)}" if unknown else "")
            }
        )
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    for field, raw in changes.items():
        value = " ".join(raw.split())
        if field == "name" and not 0 < len(value) <= MAX_NAME:
            errors[field] = f"required, at most {MAX_NAME} characters"
        elif field == "language" and value not in LANGUAGES:
            errors[field] = f"one of {', '.join(LANGUAGES)}"
        elif field == "contact_email" and value:
            try:
                value = validate_email(value, check_deliverability=False).normalized
            except EmailNotValidError:
                errors[field] = "not a valid email address"
        elif field == "contact_phone" and value:
            try:
                value = normalise_phone(value)
            except ValueError as exc:
                errors[field] = str(exc)
        elif field == "contact_address" and len(value) > MAX_ADDRESS:
            errors[field] = f"at most {MAX_ADDRESS} characters"
        clean[field] = value
    if errors:
        raise InvalidArgument(errors)
    return clean


class OrgSettings:
    def __init__(self, handlers: MembershipHandlers) -> None:
        self.handlers = handlers
        self.database = handlers.database

    async def get(self, org_id: str) -> OrgProfile:
        org = await self.handlers.org(org_id)
        if org is None:
            raise NotFound("org not found")
        return org

    async def update(self, caller: Principal, changes: dict[str, str]) -> OrgProfile:
        clean = validate_org_changes(changes)
        current = await self.get(caller.org_id)
        changed = {f: v for f, v in clean.items() if getattr(current, f) != v}
        if changed:
            async with self.database.transaction() as session:
                await Repository(session).update_org(caller.org_id, changed)
                await audit.record(
                    session,
                    caller.org_id,
                    Change(caller.actor, "org.updated", caller.org_id, tuple(sorted(changed))),
                )
            self.handlers.forget_org(caller.org_id)
        return await self.get(caller.org_id)
