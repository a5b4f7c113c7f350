"""The member's address, asked of membership at the moment the erasure needs it."""

from __future__ import annotations

import grpc
from membership.v1 import membership_pb2, membership_pb2_grpc

from services.common.grpc.client import ServiceClient


class MembershipContacts:
    def __init__(self, membership: ServiceClient) -> None:
        self.membership = membership

    async def email_of(self, org_id: str, member_id: str) -> str | None:
        """None when membership no longer knows the member (or never had an address)."""
        stub = membership_pb2_grpc.InternalDirectoryStub(self.membership.channel)
        try:
            contact = await self.membership.call(
                stub.GetContact,
                membership_pb2.GetContactRequest(org_id=org_id, member_id=member_id),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION):
                return None
            raise
        return contact.email or None
