"""What notify holds of a member: the message log and the provider's copies."""

from __future__ import annotations

from typing import Any

from services.common.db.engine import Database
from services.common.grpc.data_subject import ErasureOutcome, Removed
from services.common.sealing import Sealer, SubjectForgotten
from services.common.timestamps import iso
from services.notify.adapters.repository import Repository
from services.notify.service_layer.handlers import EmailSender

SEALED = ("recipient", "subject", "body")


class MessageSubjectStore:
    def __init__(self, database: Database, sealer: Sealer, email: EmailSender) -> None:
        self.database = database
        self.sealer = sealer
        self.email = email

    async def export(self, org_id: str, subject_id: str) -> dict[str, Any]:
        async with self.database.sessions() as session:
            rows = await Repository(session).of_member(org_id, subject_id)
        exported = []
        for row in rows:
            entry: dict[str, Any] = {
                "message_id": row.id,
                "template": row.template,
                "channel": row.channel,
                "purpose": row.purpose,
                "status": row.status,
                "created_at": iso(row.created_at),
            }
            try:
                entry |= await self.sealer.unseal(
                    subject_id, {f: getattr(row, f"{f}_sealed") for f in SEALED}
                )
            except SubjectForgotten:
                entry["content"] = "unreadable: the member's key was shredded"
            exported.append(entry)
        return {"messages": exported}

    async def erase(self, org_id: str, subject_id: str) -> ErasureOutcome:
        async with self.database.transaction() as session:
            repo = Repository(session)
            rows = await repo.of_member(org_id, subject_id)
            provider_copies = sum([await self.email.forget(row.id) for row in rows])
            deleted = await repo.delete_of_member(org_id, subject_id)
        self.sealer.forget(subject_id)
        outcome = ErasureOutcome()
        if deleted:
            outcome.removed.append(
                Removed("message-log", "messages sent: address, subject, body, status", deleted)
            )
        if provider_copies:
            outcome.removed.append(
                Removed(
                    "provider-copies",
                    "the email provider's copies (sandbox files)",
                    provider_copies,
                )
            )
        return outcome
