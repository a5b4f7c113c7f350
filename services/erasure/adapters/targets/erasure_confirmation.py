"""The member's erasure-confirmed email, through notify's ErasureConfirmations: the plan's
first task, before any store forgets the member, because notify fetches the address from
membership when it queues the message, and notify's own Erase deletes the member's messages.
Until notify says the email was sent, the task awaits that confirmation (asked again with
the runner's backoff; the call is idempotent, keyed by the request); an
email that will never be sent (no address, the member already gone) is recorded as such and
does not hold up the erasure."""

from __future__ import annotations

import grpc
from privacy.v1 import confirmation_pb2, confirmation_pb2_grpc

from services.common.grpc.client import ServiceClient
from services.erasure.domain.certificate import MEMBER_NOT_TOLD, MEMBER_TOLD
from services.erasure.domain.outcomes import AwaitingConfirmation, TargetFailure, TargetResult
from services.erasure.service_layer.targets import TargetJob

SENT = "sent"
PENDING = "pending"


class ErasureConfirmationTarget:
    def __init__(self, notify: ServiceClient) -> None:
        self.notify = notify

    async def erase(self, job: TargetJob) -> TargetResult:
        stub = confirmation_pb2_grpc.ErasureConfirmationsStub(self.notify.channel)
        try:
            found = await self.notify.call(
                stub.ConfirmErasure,
                confirmation_pb2.ConfirmErasureRequest(
                    org_id=job.org_id, subject_id=job.subject_id, request_id=job.request_id
                ),
            )
        except grpc.aio.AioRpcError as exc:
            raise TargetFailure(f"grpc-{exc.code().name.lower()}") from None
        if found.state == PENDING:
            raise AwaitingConfirmation(
                TargetResult(note=f"the erasure-confirmed {found.channel} is queued at notify")
            )
        if found.state == SENT:
            return TargetResult(
                note=f"the erasure-confirmed {found.channel} was accepted by the provider",
                action=MEMBER_TOLD,
            )
        return TargetResult(
            note=f"no erasure-confirmed {found.channel} was sent: {found.reason}",
            action=MEMBER_NOT_TOLD,
        )
