"""The erasure service's PrivacyRequests as membership files them for a member: the privacy
page (the member's own request) and the retention sweep (a member the org's profile says is
due). Filed and verified at once, naming the org as an internal caller; the caller says how
the identity was checked."""

from __future__ import annotations

import grpc
from privacy.v1 import requests_pb2, requests_pb2_grpc

from services.common.errors import FailedPrecondition
from services.common.grpc.client import ServiceClient, existing_id

# The member is unknown to the keyring, or erased already: nothing left to request.
GONE = (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)


class RequestOpen(Exception):
    """A request of this type is open and verified already: `request_id` is being handled."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        super().__init__(request_id)


class PrivacyRequestsClient:
    def __init__(self, erasure: ServiceClient) -> None:
        self.client = erasure

    async def file_verified(
        self, org_id: str, member_id: str, type_: str, method: str, attestation: str
    ) -> requests_pb2.PrivacyRequest:
        """The request after its identity check; an access or portability answer carries the
        archive's password, this once. An open request of the type, filed but not verified
        (a lost answer, or an admin's unverified one), is verified now; RequestOpen when it
        was verified already; FailedPrecondition when the member is erased already."""
        stub = requests_pb2_grpc.PrivacyRequestsStub(self.client.channel)
        try:
            filed = await self.client.call(
                stub.FileRequest,
                requests_pb2.FileRequestRequest(subject_id=member_id, type=type_, org_id=org_id),
            )
            request_id = str(filed.request_id)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in GONE:
                raise FailedPrecondition("the member is gone") from exc
            request_id = existing_id(exc) if exc.code() == grpc.StatusCode.ALREADY_EXISTS else ""
            if not request_id:
                raise
        try:
            return await self.client.call(
                stub.VerifyIdentity,
                requests_pb2.VerifyIdentityRequest(
                    request_id=request_id, method=method, attestation=attestation, org_id=org_id
                ),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                raise RequestOpen(request_id) from exc
            raise
