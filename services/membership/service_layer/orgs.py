"""The org's own profile: contact details members see, name and language."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

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
