"""gRPC entry points: translate messages to use cases and back, nothing more."""

from __future__ import annotations

import grpc
from membership.v1 import membership_pb2 as pb
from membership.v1 import membership_pb2_grpc

from services.common.errors import InvalidArgument, Unauthenticated
from services.common.grpc.auth import current_principal
from services.common.timestamps import to_timestamp
from services.membership.service_layer.handlers import MembershipHandlers, MemberView


def member_message(view: MemberView) -> pb.Member:
    return pb.Member(
        member_id=view.member_id,
        org_id=view.org_id,
        name=view.name,
        email=view.email,
        phone=view.phone,
        language=view.language,
        status=view.status,
        registered_at=to_timestamp(view.registered_at),
    )


class MembershipServicer(membership_pb2_grpc.MembershipServiceServicer):
    def __init__(self, handlers: MembershipHandlers) -> None:
        self.handlers = handlers

    async def CreateOrg(
        self, request: pb.CreateOrgRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateOrgResponse:
        created = await self.handlers.create_org(request.name, request.org_number, request.language)
        return pb.CreateOrgResponse(
            org_id=created.org_id, api_key=created.api_key, scopes=list(created.scopes)
        )

    async def RegisterMember(
        self, request: pb.RegisterMemberRequest, context: grpc.aio.ServicerContext
    ) -> pb.Member:
        view = await self.handlers.register_member(
            current_principal().org_id, request.name, request.email, request.phone, request.language
        )
        return member_message(view)

    async def GetMember(
        self, request: pb.GetMemberRequest, context: grpc.aio.ServicerContext
    ) -> pb.Member:
        if not request.member_id:
            raise InvalidArgument({"member_id": "required"})
        return member_message(
            await self.handlers.get_member(current_principal().org_id, request.member_id)
        )


class InternalDirectoryServicer(membership_pb2_grpc.InternalDirectoryServicer):
    def __init__(self, handlers: MembershipHandlers) -> None:
        self.handlers = handlers

    async def IntrospectApiKey(
        self, request: pb.IntrospectApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ApiKeyPrincipal:
        principal = await self.handlers.introspect(request.api_key)
        if principal is None:
            raise Unauthenticated("invalid or revoked API key")
        return pb.ApiKeyPrincipal(org_id=principal.org_id, scopes=sorted(principal.scopes))

    async def GetContact(
        self, request: pb.GetContactRequest, context: grpc.aio.ServicerContext
    ) -> pb.Contact:
        return contact_message(await self.handlers.get_member(request.org_id, request.member_id))

    async def GetContacts(
        self, request: pb.GetContactsRequest, context: grpc.aio.ServicerContext
    ) -> pb.Contacts:
        views = await self.handlers.get_contacts([(m.org_id, m.member_id) for m in request.members])
        return pb.Contacts(contacts=[contact_message(view) for view in views])


def contact_message(view: MemberView) -> pb.Contact:
    return pb.Contact(
        member_id=view.member_id,
        org_id=view.org_id,
        org_name=view.org_name,
        name=view.name,
        email=view.email,
        phone=view.phone,
        language=view.language,
    )
