"""gRPC entry points of notify's org API: translate messages to use cases and back. Every call
is scoped to the caller's org (the principal the interceptor authenticated)."""

from __future__ import annotations

import grpc
from notify.v1 import notify_pb2 as pb
from notify.v1 import notify_pb2_grpc
from sqlalchemy.engine import Row

from services.common.db.engine import Database
from services.common.errors import InvalidArgument
from services.common.grpc.auth import current_principal
from services.common.timestamps import iso
from services.notify.adapters.repository import Repository
from services.notify.service_layer.org_sending import OrgSending
from services.notify.service_layer.org_templates import OrgTemplates


def _org() -> str:
    return current_principal().org_id


def message_entry(row: Row) -> pb.MessageEntry:
    """A message as its log shows it: never the address, subject or body."""
    return pb.MessageEntry(
        message_id=row.id,
        template=row.template,
        channel=row.channel,
        message_class=row.message_class,
        purpose=row.purpose,
        legal_basis=row.legal_basis,
        status=row.status,
        created_at=iso(row.created_at) or "",
        sent_at=iso(row.sent_at) or "",
        delivered_at=iso(row.delivered_at) or "",
        consent_evidence=row.consent_evidence or "",
        segments=row.segments or 0,
    )


class NotifyServicer(notify_pb2_grpc.NotifyServiceServicer):
    def __init__(self, database: Database, templates: OrgTemplates, sending: OrgSending) -> None:
        self.database = database
        self.templates = templates
        self.sending = sending

    async def SetTemplateOverride(
        self, request: pb.SetTemplateOverrideRequest, context: grpc.aio.ServicerContext
    ) -> pb.TemplateOverride:
        saved_at = await self.templates.set_override(
            _org(), request.template, request.language, request.part, request.body
        )
        return pb.TemplateOverride(
            template=request.template,
            language=request.language,
            part=request.part,
            body=request.body,
            updated_at=iso(saved_at) or "",
        )

    async def ListTemplates(
        self, request: pb.ListTemplatesRequest, context: grpc.aio.ServicerContext
    ) -> pb.Templates:
        return pb.Templates(
            templates=[
                pb.Template(
                    template=t.template,
                    message_class=t.message_class,
                    purpose=t.purpose,
                    legal_basis=t.legal_basis,
                    channels=t.channels,
                    variables=t.variables,
                    parts=t.parts,
                    overridden=[
                        pb.OverriddenPart(
                            language=r.language, part=r.part, updated_at=iso(r.updated_at) or ""
                        )
                        for r in t.overridden
                    ],
                )
                for t in await self.templates.list(_org())
            ]
        )

    async def PreviewTemplate(
        self, request: pb.PreviewTemplateRequest, context: grpc.aio.ServicerContext
    ) -> pb.Preview:
        rendered = await self.templates.preview(
            _org(), request.template, request.language, dict(request.drafts)
        )
        preview = pb.Preview(
            subject=rendered.subject, html=rendered.html, text=rendered.text, sms=rendered.sms or ""
        )
        length = rendered.sms_length
        if length is not None:
            preview.sms_length.CopyFrom(
                pb.SmsLength(encoding=length.encoding, units=length.units, segments=length.segments)
            )
        return preview

    async def ListMessages(
        self, request: pb.ListMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.Messages:
        if not request.member_id:
            raise InvalidArgument({"member_id": "required"})
        async with self.database.sessions() as session:
            rows = await Repository(session).of_member(_org(), request.member_id)
        return pb.Messages(messages=[message_entry(r) for r in rows])

    async def SendToMembers(
        self, request: pb.SendToMembersRequest, context: grpc.aio.ServicerContext
    ) -> pb.SendToMembersResponse:
        result = await self.sending.send(
            _org(),
            list(request.member_ids),
            request.purpose,
            request.legal_basis,
            request.channel,
            request.subject,
            request.body,
            request.request_id,
        )
        return pb.SendToMembersResponse(
            queued=result.queued,
            not_queued=dict(result.not_queued),
            message_class=result.message_class,
        )
