"""Notify's retention sweep of one org under its active profile (domain/retention.py decides
what is due): due messages are deleted with their delivery events, the local sandbox's
copies and Twilio's (by SID). Notify keeps no audit log: each run is a structured log line and the
notify_retention_* metrics (services/common/retention_sweep.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Protocol

from events.v1.envelope_pb2 import Envelope
from membership.v1 import events_pb2 as member_events_pb2
from membership.v1 import membership_pb2
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.engine import Database
from services.common.envelope import unpack
from services.common.logging import get_logger
from services.common.retention import RELATIONSHIP_ENDED, RetentionProfile, action_done
from services.common.retention_sweep import Swept, count
from services.notify.adapters.retention_messages import RetentionMessages
from services.notify.domain.delivery import ProviderFailure
from services.notify.domain.retention import (
    category_of,
    due_messages,
    needs_withdrawals,
)
from services.notify.service_layer.subject_store import ProviderCopies

log = get_logger(__name__)

BATCH = 500


class ConsentHistory(Protocol):
    async def consents(self, org_id: str, member_id: str) -> membership_pb2.Consents | None: ...


def withdrawals(consents: membership_pb2.Consents) -> dict[str, datetime]:
    """purpose -> when its consent was last withdrawn, for purposes not consented to now."""
    found: dict[str, datetime] = {}
    for change in consents.history:  # oldest first
        if not change.granted and change.purpose not in consents.granted:
            found[change.purpose] = change.at.ToDatetime(tzinfo=UTC)
    return found


class ProviderDeletion(Protocol):
    name: str

    async def delete(self, provider_ref: str) -> bool:
        """Deletes the provider's copy; False when it held none. Raises ProviderFailure."""
        ...


# Providers whose copy of a message a sweep deletes by its id (Twilio: by SID).
PROVIDERS_DELETING = ("twilio",)


class NotifyRetention:
    def __init__(
        self,
        database: Database,
        directory: ConsentHistory,
        copies: dict[str, ProviderCopies],
        providers: Sequence[ProviderDeletion] = (),
    ) -> None:
        self.database = database
        self.directory = directory
        self.copies = copies
        # By the name the message log records as a message's provider.
        self.providers = {p.name: p for p in providers}

    async def sweep_org(self, org_id: str, profile: RetentionProfile, today: date) -> Swept:
        async with self.database.sessions() as session:
            stored = RetentionMessages(session)
            logged = await stored.of_org(org_id)
            ended = await stored.relationship_ends(org_id)
        withdrawn: dict[tuple[str, str], datetime] = {}
        if needs_withdrawals(profile):
            marketed = sorted(
                {m.member_id for m in logged if category_of(m) == "marketing-messages"}
            )
            for member_id in marketed:
                consents = await self.directory.consents(org_id, member_id)
                if consents is None:
                    continue  # erased: the erasure takes their messages
                for purpose, at in withdrawals(consents).items():
                    withdrawn[(member_id, purpose)] = at
        swept: Swept = {}
        due = due_messages(profile, lambda: today, logged, withdrawn, ended)
        for category, ids in due.items():
            action = action_done(profile.rule_for(category))
            for start in range(0, len(ids), BATCH):
                batch = ids[start : start + BATCH]
                async with self.database.sessions() as session:
                    copies = await RetentionMessages(session).copies(org_id, batch)
                # The providers' copies first, outside the transaction: a message whose copy
                # could not be deleted stays, with the id to delete it by next run.
                kept = {row.id for row in copies if not await self._forget_copy(row)}
                going = [i for i in batch if i not in kept]
                if going:
                    async with self.database.transaction() as session:
                        removed = await RetentionMessages(session).delete(org_id, going)
                    count(swept, category, action, removed)
        return swept

    async def _forget_copy(self, row: Row) -> bool:
        """Deletes a message's copies: the sandbox's file, Twilio's message by SID. (SendGrid
        has no API to delete one message: its activity log keeps it for its own period.)
        False when a provider's copy is still there."""
        if row.channel in self.copies:
            await self.copies[row.channel].forget(row.id)
        provider = self.providers.get(row.provider or "")
        if provider is None or not row.provider_ref:
            if row.provider in PROVIDERS_DELETING and row.provider_ref:
                # Sent through it, but it is not configured now: keep the id until it is.
                log.warning("retention_copy_kept", provider=row.provider, reason="not-configured")
                return False
            return True
        try:
            await provider.delete(row.provider_ref)
        except ProviderFailure as failure:
            log.warning("retention_copy_kept", provider=row.provider, reason=failure.code)
            return False
        return True


async def on_status_changed(session: AsyncSession, envelope: Envelope) -> None:
    """Consumer of membership.member-status-changed.v1: when a member's membership ended
    (cancelled or lapsed), or that it runs again, for rules counted from its end."""
    changed = unpack(envelope, member_events_pb2.MemberStatusChanged)
    at = envelope.occurred_at.ToDatetime(tzinfo=UTC)
    await RetentionMessages(session).relationship_ended(
        envelope.org_id or changed.org_id,
        changed.member_id,
        at if changed.new_status in RELATIONSHIP_ENDED else None,
    )
