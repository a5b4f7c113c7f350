"""What notify holds of a member: the message log (with each message's delivery status) and
the providers' copies.

Erasure deletes the member's messages, bodies and delivery events, and keeps the suppression
list's rows for their addresses: those hold only a keyed hash of the address, never the
address, and must outlive the erasure so that an opt-out (SMS STOP, a hard bounce) still
holds if the address comes back. The receipt lists the provider message ids (SendGrid,
Twilio) for the erasure service to delete at the providers. The receipt (ids and counts, not
personal data) is recorded with the deletion and answered again by a repeated Erase
(services/common/db/erasure_receipts.py), so a lost reply and a retry still delete the
providers' copies and the certificate still says what went.

The sandbox stands for the providers: its copies go too, the erasure-confirmed email's
included (it was sent before this runs: the erasure plan's first task waits for it)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Protocol

from services.common.db.engine import Database
from services.common.db.erasure_receipts import settle
from services.common.grpc.data_subject import ErasureOutcome, Kept, Removed
from services.common.sealing import Sealer, SubjectForgotten
from services.common.timestamps import iso
from services.notify.adapters import delivery_log
from services.notify.adapters.orm import erasure_receipts
from services.notify.adapters.repository import Repository
from services.notify.adapters.retention_messages import RetentionMessages
from services.notify.domain.delivery_events import SENDGRID, TWILIO
from services.notify.domain.suppression import address_hash

SEALED = ("recipient", "subject", "body")
# Providers whose copies the erasure service deletes through their APIs; the sandbox's files
# are deleted here (ProviderCopies.forget).
PROVIDERS = (SENDGRID, TWILIO)


class ProviderCopies(Protocol):
    async def forget(self, message_id: str) -> bool:
        """Deletes a local provider copy (the sandbox's file); True when there was one."""
        ...


class MessageSubjectStore:
    def __init__(
        self,
        database: Database,
        sealer: Sealer,
        copies: Mapping[str, ProviderCopies],
        suppression_key: bytes = b"",
    ) -> None:
        """`copies`: per channel (email, sms), where the local copies of its messages are."""
        self.database = database
        self.sealer = sealer
        self.copies = copies
        self.suppression_key = suppression_key

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
                "delivery": {
                    "provider": row.provider,
                    "status": row.status,
                    "sent_at": iso(row.sent_at) if row.sent_at else None,
                    "delivered_at": iso(row.delivered_at) if row.delivered_at else None,
                    "error": row.last_error,
                },
            }
            try:
                entry |= await self.sealer.unseal(
                    subject_id, {f: getattr(row, f"{f}_sealed") for f in SEALED}
                )
            except SubjectForgotten:
                entry["content"] = "unreadable: the member's key was shredded"
            exported.append(entry)
        return {"messages": exported}

    async def _address_hashes(self, subject_id: str, rows: list[Any]) -> set[tuple[str, str]]:
        """(channel, keyed hash) of every address the member was sent to: from the log, or
        for rows from before the log kept it, from the sealed address while it is readable."""
        hashes = {(row.channel, row.recipient_hash) for row in rows if row.recipient_hash}
        if not self.suppression_key:
            return hashes
        for row in rows:
            if row.recipient_hash:
                continue
            try:
                opened = await self.sealer.unseal(subject_id, {"recipient": row.recipient_sealed})
            except SubjectForgotten:
                break
            hashes.add(
                (row.channel, address_hash(self.suppression_key, row.channel, opened["recipient"]))
            )
        return hashes

    async def erase(self, org_id: str, subject_id: str) -> ErasureOutcome:
        async with self.database.sessions() as session:
            before = await Repository(session).of_member(org_id, subject_id)
        hashes = await self._address_hashes(subject_id, before)
        async with self.database.transaction() as session:
            repo = Repository(session)
            rows = await repo.of_member(org_id, subject_id)
            provider_copies = sum(
                [
                    await self.copies[row.channel].forget(row.id)
                    for row in rows
                    if row.channel in self.copies
                ]
            )
            provider_ids: defaultdict[str, list[str]] = defaultdict(list)
            for row in rows:
                if row.provider in PROVIDERS and row.provider_ref:
                    provider_ids[row.provider].append(row.provider_ref)
            events = await delivery_log.forget_events(session, [row.id for row in rows])
            deleted = await repo.delete_of_member(org_id, subject_id)
            await RetentionMessages(session).relationship_ended(org_id, subject_id, None)
            kept = await delivery_log.suppressed_of(session, org_id, hashes)
            outcome = self._outcome(provider_ids, deleted, events, provider_copies, kept)
            outcome = await settle(
                session, erasure_receipts, org_id, subject_id, outcome, erased=bool(rows)
            )
        self.sealer.forget(subject_id)
        return outcome

    @staticmethod
    def _outcome(
        provider_ids: Mapping[str, list[str]],
        deleted: int,
        events: int,
        provider_copies: int,
        kept: list[Any],
    ) -> ErasureOutcome:
        outcome = ErasureOutcome(provider_records={p: sorted(i) for p, i in provider_ids.items()})
        if deleted:
            outcome.removed.append(
                Removed("message-log", "messages sent: address, subject, body, status", deleted)
            )
        if events:
            outcome.removed.append(
                Removed("delivery-events", "the providers' delivery events of them", events)
            )
        if provider_copies:
            outcome.removed.append(
                Removed(
                    "provider-copies",
                    "the email and SMS providers' copies (sandbox files)",
                    provider_copies,
                )
            )
        if kept:
            outcome.kept.append(
                Kept(
                    "suppression-list",
                    "a keyed hash of each address that opted out or bounced "
                    f"({', '.join(sorted({row.reason for row in kept}))}), never the address, "
                    "so that the opt-out still holds if the address comes back",
                    "GDPR art. 17(3)(b) and art. 21(3), ekomloven § 3-6 / markedsføringsloven "
                    "§ 15: an opt-out must be honoured",
                    "kept while the org sends messages",
                    count=len(kept),
                    pseudonymised=True,
                )
            )
        return outcome
