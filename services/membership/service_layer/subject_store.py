"""What membership holds of a member, for access (export) and erasure. Erasure keeps one
thing: a keyed hash of the member's address (the tombstone), listed in the receipt with the
hash itself, so that the erasure ledger can hand it back after a restore that lost it. Each
erasure's receipt is recorded with it and answered again by a repeated Erase."""

from __future__ import annotations

import re
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

from services.common.db.engine import Database
from services.common.db.erasure_receipts import settle
from services.common.errors import InvalidArgument, NotFound
from services.common.grpc.data_subject import ErasureOutcome, Kept, Removed
from services.common.logging import get_logger
from services.common.sealing import Sealer
from services.common.timestamps import iso
from services.membership.adapters import audit, login_log
from services.membership.adapters import consents as consent_table
from services.membership.adapters.orm import erasure_receipts
from services.membership.adapters.repository import Repository
from services.membership.domain.forms import BASE_FIELDS, FormField
from services.membership.metrics import MEMBERS_ERASED
from services.membership.service_layer.handlers import MembershipHandlers
from services.membership.service_layer.logins import LoginLog

# The erasure tombstone (erased_addresses). How long it is kept is an open decision (README,
# "Noticed, left alone"): until then it stays while the org imports members.
TOMBSTONE = Kept(
    "erased-address",
    "a keyed hash (blind index) of the member's email address, never the address, so that an "
    "import or sync does not bring the erased member back",
    "GDPR art. 17(1) and art. 5(2): the erasure must stay effective, and the org must be able "
    "to show that it does",
    "kept while the org imports members (retention not yet decided)",
    pseudonymised=True,
)
MAX_TOMBSTONES = 1000
BLIND_INDEX = re.compile(r"[0-9a-f]{64}")
log = get_logger(__name__)


def classified(field: FormField, value: object) -> dict[str, object]:
    """A value with what its form field declares: category, purpose, legal basis, and how
    long after the membership ends it is kept (ISO 8601)."""
    return {
        "value": value,
        "category": field.category,
        "purpose": field.purpose,
        "legal_basis": field.legal_basis,
        "retention": field.retention,
    }


class MemberSubjectStore:
    def __init__(self, handlers: MembershipHandlers, database: Database, sealer: Sealer) -> None:
        self.handlers = handlers
        self.database = database
        self.sealer = sealer

    async def export(self, org_id: str, subject_id: str) -> dict[str, Any]:
        try:
            member = await self.handlers.get_member(org_id, subject_id)
        except NotFound:
            return {"member": None}
        async with self.database.sessions() as session:
            entries = await audit.about(session, org_id, subject_id)
            consents = await consent_table.history(session, org_id, subject_id)
        logins = await LoginLog(self.handlers).entries(org_id, subject_id)
        form_fields = {f.key: f for f in member.form.definition.fields} if member.form else {}
        return {
            "consents": {
                "granted": list(member.consents),
                "history": [
                    {
                        "purpose": c.purpose,
                        "granted": c.granted,
                        "at": iso(c.at),
                        "source": c.source,
                        "policy_version": c.policy_version,
                    }
                    for c in consents
                ],
            },
            "login_log": [
                {"kind": login.kind, "at": iso(login.at), **asdict(login.details)}
                for login in logins
            ],
            "audit": [
                {"at": iso(e.at), "actor": e.actor, "action": e.action, "fields": e.fields.split()}
                for e in entries
            ],
            "member": {
                "member_id": member.member_id,
                "org": {"id": org_id, "name": member.org_name},
                "status": member.status,
                "language": member.language,
                "registered_at": iso(member.registered_at),
                "membership_type_id": member.membership_type_id or None,
                "period_start": member.period_start.isoformat() if member.period_start else None,
                "period_end": member.period_end.isoformat() if member.period_end else None,
                "accepted": {
                    "privacy_policy_version": member.policy_version,
                    "terms_version": member.terms_version,
                },
                "form": {
                    "key": member.form.definition.key if member.form else "default",
                    "version": member.form.version if member.form else 0,
                },
                "answers": {
                    key: classified(form_fields[key], value)
                    for key, value in member.answers.items()
                },
                "guardian": asdict(member.guardian) if member.guardian else None,
                "personal_data": {
                    f.key: classified(f, getattr(member, f.key)) for f in BASE_FIELDS
                },
            },
        }

    async def erase(self, org_id: str, subject_id: str) -> ErasureOutcome:
        async with self.database.transaction() as session:
            repo = Repository(session)
            tombstone = await repo.tombstone_address(org_id, subject_id, datetime.now(UTC))
            deleted = await repo.delete_member(org_id, subject_id)
            entries = await audit.forget_about(session, org_id, subject_id) if deleted else 0
            sessions = await login_log.forget(session, org_id, subject_id)
            consents = await consent_table.forget(session, org_id, subject_id)
            removed = [
                Removed(
                    "member-record",
                    "member record: name, email, phone, language, status, form answers, guardian",
                    deleted,
                ),
                Removed("login-log", "sessions: time, kind, device, IP address, place", sessions),
                Removed("consents", "consents given and withdrawn, with their history", consents),
                Removed(
                    "audit-entries",
                    "audit entries about the member (field names, actors, times)",
                    entries,
                ),
            ]
            outcome = await settle(
                session,
                erasure_receipts,
                org_id,
                subject_id,
                ErasureOutcome(
                    removed=[item for item in removed if item.count],
                    kept=[replace(TOMBSTONE, tombstones=(tombstone,))] if tombstone else [],
                )
                if deleted
                else ErasureOutcome(),
                bool(deleted),
            )
        self.sealer.forget(subject_id)
        if deleted:
            MEMBERS_ERASED.inc()
        return outcome


async def restore_tombstones(database: Database, org_id: str, tombstones: list[str]) -> int:
    """Puts back the erased addresses (blind indexes) the erasure ledger recorded from this
    store's receipts, after a restore from a backup that predates them; returns how many
    were missing."""
    errors = {}
    if not org_id:
        errors["org_id"] = "required"
    if not 1 <= len(tombstones) <= MAX_TOMBSTONES:
        errors["tombstones"] = f"between 1 and {MAX_TOMBSTONES}"
    elif not all(BLIND_INDEX.fullmatch(t) for t in tombstones):
        errors["tombstones"] = "each a blind index: 64 lowercase hex characters"
    if errors:
        raise InvalidArgument(errors)
    async with database.transaction() as session:
        restored = await Repository(session).restore_tombstones(
            org_id, tombstones, datetime.now(UTC)
        )
    if restored:
        log.info("erased_addresses_restored", org_id=org_id, restored=restored)
    return restored
