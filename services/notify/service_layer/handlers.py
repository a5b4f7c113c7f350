"""Notify use cases: the welcome email after sign-up. Contact details are fetched from
membership at send time, so a member erased meanwhile gets nothing, and the member's
restriction, objections and consents are checked (domain/gating.py) before anything is
rendered, sealed or handed to a provider."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Protocol

import grpc
from events.v1.envelope_pb2 import Envelope
from membership.v1 import events_pb2 as membership_events
from membership.v1 import membership_pb2, membership_pb2_grpc
from notify.v1 import events_pb2 as notify_events
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.envelope import EventContext, new_envelope, unpack
from services.common.grpc.client import ServiceClient
from services.common.logging import get_logger
from services.common.outbox import add_event
from services.common.sealing import Sealer
from services.common.topics import MESSAGE_RECORDED
from services.notify.adapters.repository import Repository
from services.notify.adapters.templates import render_email
from services.notify.domain.gating import MemberFlags, withheld_because
from services.notify.domain.messages import RenderedEmail, kind_of, message_id
from services.notify.metrics import MESSAGES_RECORDED, MESSAGES_SKIPPED

log = get_logger(__name__)

GONE = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION)


class EmailSender(Protocol):
    async def send(self, message_id: str, to: str, email: RenderedEmail) -> str: ...

    async def forget(self, message_id: str) -> bool: ...


class NotifyHandlers:
    def __init__(self, membership: ServiceClient, sealer: Sealer, email: EmailSender) -> None:
        self.membership = membership
        self.sealer = sealer
        self.email = email
        # Filled per consumer batch by prefetch(); None means "looked up: gone".
        self._prefetched: dict[tuple[str, str], membership_pb2.Contact | None] = {}

    async def prefetch(self, envelopes: list[Envelope]) -> None:
        """One call for the batch's contacts and one for their keys, instead of two each."""
        refs = [
            membership_pb2.GetContactRequest(org_id=r.org_id, member_id=r.member_id)
            for r in (unpack(e, membership_events.MemberRegistered) for e in envelopes)
        ]
        stub = membership_pb2_grpc.InternalDirectoryStub(self.membership.channel)
        found, _ = await asyncio.gather(
            self.membership.call(stub.GetContacts, membership_pb2.GetContactsRequest(members=refs)),
            self.sealer.prefetch([ref.member_id for ref in refs]),
        )
        self._prefetched = {(ref.org_id, ref.member_id): None for ref in refs}
        self._prefetched |= {(c.org_id, c.member_id): c for c in found.contacts}

    async def contact(self, org_id: str, member_id: str) -> membership_pb2.Contact | None:
        if (org_id, member_id) in self._prefetched:
            return self._prefetched.pop((org_id, member_id))
        stub = membership_pb2_grpc.InternalDirectoryStub(self.membership.channel)
        try:
            return await self.membership.call(
                stub.GetContact,
                membership_pb2.GetContactRequest(org_id=org_id, member_id=member_id),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in GONE:
                return None
            raise

    async def on_member_registered(self, session: AsyncSession, envelope: Envelope) -> None:
        registered = unpack(envelope, membership_events.MemberRegistered)
        template, channel = "welcome", "email"
        kind = kind_of(template)
        mid = message_id(envelope.event_id, template, channel)
        contact = await self.contact(registered.org_id, registered.member_id)
        if contact is None:
            MESSAGES_SKIPPED.labels(template, "member-gone").inc()
            return
        flags = MemberFlags(
            restricted=contact.restricted,
            objections=frozenset(contact.objections),
            consents=frozenset(contact.consents),
        )
        reason = withheld_because(kind, flags)
        if reason is not None:
            # Nothing rendered, sealed, logged as a message or handed to the provider. The
            # event counts as handled: lifting the restriction later does not send it.
            MESSAGES_SKIPPED.labels(template, reason.value).inc()
            log.info(
                "message_withheld",
                message_id=mid,
                template=template,
                channel=channel,
                message_class=kind.message_class,
                purpose=kind.purpose,
                reason=reason.value,
            )
            return
        rendered = render_email(
            template, contact.language, {"name": contact.name, "org_name": contact.org_name}
        )
        sealed = await self.sealer.seal(
            registered.member_id,
            {"recipient": contact.email, "subject": rendered.subject, "body": rendered.text},
        )
        # The sandbox overwrites by message id, so a retried batch cannot send twice. A real
        # provider (the notify issue) records the intent in its own transaction first.
        provider_ref = await self.email.send(mid, contact.email, rendered)
        await Repository(session).add(
            id=mid,
            org_id=registered.org_id,
            member_id=registered.member_id,
            source_event_id=envelope.event_id,
            template=template,
            channel=channel,
            purpose=kind.purpose,
            recipient_sealed=sealed["recipient"],
            subject_sealed=sealed["subject"],
            body_sealed=sealed["body"],
            status="sent",
            provider_ref=provider_ref,
            created_at=datetime.now(UTC),
        )
        await add_event(
            session,
            MESSAGE_RECORDED,
            new_envelope(
                "notify.message-recorded",
                notify_events.MessageRecorded(
                    message_id=mid,
                    member_id=registered.member_id,
                    template=template,
                    channel=channel,
                ),
                org_id=registered.org_id,
                subject_id=registered.member_id,
                context=EventContext.caused_by(envelope),
            ),
        )
        MESSAGES_RECORDED.labels(template, channel).inc()
