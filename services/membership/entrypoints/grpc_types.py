"""gRPC entry points for membership types. Mixed into the MembershipService servicer, which
sets `self.types`."""

from __future__ import annotations

import grpc
from membership.v1 import membership_pb2 as pb

from services.common.grpc.auth import current_principal
from services.membership.service_layer.membership_types import (
    MembershipTypes,
    MembershipTypeView,
)


def type_message(view: MembershipTypeView) -> pb.MembershipType:
    return pb.MembershipType(
        type_id=view.type_id,
        name=view.name,
        period=view.period,
        kind=view.kind,
        rollover=view.rollover,
        grace_days=view.grace_days,
    )


class MembershipTypeRpcs:
    types: MembershipTypes

    async def CreateMembershipType(
        self, request: pb.CreateMembershipTypeRequest, context: grpc.aio.ServicerContext
    ) -> pb.MembershipType:
        return type_message(
            await self.types.create(
                current_principal(),
                request.name,
                request.period,
                request.kind,
                request.rollover,
                request.grace_days,
            )
        )

    async def ListMembershipTypes(
        self, request: pb.ListMembershipTypesRequest, context: grpc.aio.ServicerContext
    ) -> pb.MembershipTypes:
        types = await self.types.list(current_principal().org_id)
        return pb.MembershipTypes(types=[type_message(t) for t in types])
