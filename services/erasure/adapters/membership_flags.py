"""Restriction and objection, set where they live: membership's SetRestriction and
SetObjection, called with the internal token on the member's org's behalf."""

from __future__ import annotations

import grpc
from membership.v1 import membership_pb2, membership_pb2_grpc

from services.common.grpc.client import ServiceClient
from services.erasure.domain.outcomes import TargetFailure

# Membership no longer knows the member (erased meanwhile): nothing is processed any more,
# so there is nothing left to restrict or object to.
GONE = "the member is no longer held by membership: nothing left to apply it to"


class MembershipFlags:
    def __init__(self, membership: ServiceClient) -> None:
        self.membership = membership

    @property
    def _stub(self) -> membership_pb2_grpc.MembershipServiceStub:
        return membership_pb2_grpc.MembershipServiceStub(self.membership.channel)

    async def restrict(self, org_id: str, member_id: str) -> str:
        try:
            member = await self.membership.call(
                self._stub.SetRestriction,
                membership_pb2.SetRestrictionRequest(
                    member_id=member_id, restricted=True, org_id=org_id
                ),
            )
        except grpc.aio.AioRpcError as exc:
            return _gone_or_raise(exc)
        if not member.restricted:
            raise TargetFailure("membership-restriction-not-set")
        return "membership: processing restricted"

    async def object_to(self, org_id: str, member_id: str, purpose: str) -> str:
        try:
            member = await self.membership.call(
                self._stub.SetObjection,
                membership_pb2.SetObjectionRequest(
                    member_id=member_id, purpose=purpose, objecting=True, org_id=org_id
                ),
            )
        except grpc.aio.AioRpcError as exc:
            return _gone_or_raise(exc)
        if purpose not in member.objections:
            raise TargetFailure("membership-objection-not-set")
        return f"membership: objection to '{purpose}' recorded"


def _gone_or_raise(exc: grpc.aio.AioRpcError) -> str:
    if exc.code() == grpc.StatusCode.NOT_FOUND:
        return GONE
    # The status code only: membership's details could echo the request.
    raise TargetFailure(f"membership-{exc.code().name.lower()}") from exc
