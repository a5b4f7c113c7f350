"""gRPC entry point of privacy.v1.ErasureConfirmations (internal callers: the erasure
pipeline), which names the org in the request."""

from __future__ import annotations

import uuid

import grpc
from privacy.v1 import confirmation_pb2 as pb
from privacy.v1 import confirmation_pb2_grpc

from services.common.errors import InvalidArgument
from services.common.grpc.auth import SCOPE_INTERNAL
from services.notify.domain.content import EMAIL
from services.notify.service_layer.erasure_confirmation import ErasureConfirmations

ERASURE_CONFIRMATIONS_SERVICE = "privacy.v1.ErasureConfirmations"
POLICY = {
    f"/{ERASURE_CONFIRMATIONS_SERVICE}/ConfirmErasure": frozenset({SCOPE_INTERNAL}),
}


def _checked(request: pb.ConfirmErasureRequest) -> None:
    errors = {f: "required" for f in ("org_id", "subject_id") if not getattr(request, f)}
    try:
        uuid.UUID(request.request_id)
    except ValueError:
        errors["request_id"] = "must be the erasure request's id (a UUID)"
    if errors:
        raise InvalidArgument(errors)


class ErasureConfirmationsServicer(confirmation_pb2_grpc.ErasureConfirmationsServicer):
    def __init__(self, confirmations: ErasureConfirmations) -> None:
        self.confirmations = confirmations

    async def ConfirmErasure(
        self, request: pb.ConfirmErasureRequest, context: grpc.aio.ServicerContext
    ) -> pb.ErasureConfirmation:
        _checked(request)
        found = await self.confirmations.confirm(
            request.org_id, request.subject_id, request.request_id
        )
        return pb.ErasureConfirmation(
            state=found.state, reason=found.reason, channel=EMAIL, message_id=found.message_id
        )


def add_erasure_confirmations(server: grpc.aio.Server, confirmations: ErasureConfirmations) -> None:
    confirmation_pb2_grpc.add_ErasureConfirmationsServicer_to_server(
        ErasureConfirmationsServicer(confirmations), server
    )
