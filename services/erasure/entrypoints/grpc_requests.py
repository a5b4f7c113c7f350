"""privacy.v1.PrivacyRequests: translates calls to the request use cases, scoped to the
calling org."""

from __future__ import annotations

import grpc
from privacy.v1 import requests_pb2 as pb
from privacy.v1 import requests_pb2_grpc

from services.common.grpc.auth import acting_for, current_principal
from services.common.timestamps import as_utc, to_timestamp
from services.erasure.domain.outcomes import TargetResult
from services.erasure.domain.plan import DONE
from services.erasure.service_layer.requests import PrivacyRequests, RequestView


def request_message(view: RequestView) -> pb.PrivacyRequest:
    r = view.request
    return pb.PrivacyRequest(
        request_id=r.id,
        org_id=r.org_id,
        subject_id=r.subject_id,
        type=r.type,
        status=r.status,
        filed_by=r.filed_by,
        received_at=to_timestamp(r.received_at),
        due_date=r.due_date.isoformat(),
        original_due_date=r.original_due_date.isoformat(),
        extended_months=r.extended_months,
        extension_reason=view.free_text.get("extension_reason", ""),
        member_told_at=to_timestamp(r.member_told_at),
        identity_method=r.identity_method or "",
        identity_attestation=view.free_text.get("identity_attestation", ""),
        identity_verified_by=r.identity_verified_by or "",
        identity_verified_at=to_timestamp(r.identity_verified_at),
        completed_at=to_timestamp(r.completed_at),
        purpose=r.purpose or "",
        archive_password=view.archive_password,
        history=[
            pb.StatusChange(status=h.status, at=to_timestamp(h.at), actor=h.actor, note=h.note)
            for h in view.history
        ],
        targets=[
            pb.TargetProgress(
                target=t.target,
                status=t.status,
                attempts=t.attempts,
                next_attempt_at=None
                if t.status == DONE
                else to_timestamp(as_utc(t.next_attempt_at)),
                last_error=t.last_error or "",
                outcome=TargetResult.from_json(t.outcome_json).summary() if t.outcome_json else "",
            )
            for t in view.tasks
        ],
    )


class PrivacyRequestsServicer(requests_pb2_grpc.PrivacyRequestsServicer):
    def __init__(self, requests: PrivacyRequests) -> None:
        self.requests = requests

    async def FileRequest(
        self, request: pb.FileRequestRequest, context: grpc.aio.ServicerContext
    ) -> pb.PrivacyRequest:
        return request_message(
            await self.requests.file(
                acting_for(request.org_id), request.subject_id, request.type, request.purpose
            )
        )

    async def GetRequest(
        self, request: pb.RequestRef, context: grpc.aio.ServicerContext
    ) -> pb.PrivacyRequest:
        return request_message(
            await self.requests.get(current_principal().org_id, request.request_id)
        )

    async def ListRequests(
        self, request: pb.ListRequestsRequest, context: grpc.aio.ServicerContext
    ) -> pb.PrivacyRequestPage:
        views, token = await self.requests.list(
            current_principal().org_id,
            request.status,
            request.type,
            request.page_size,
            request.page_token,
        )
        return pb.PrivacyRequestPage(
            requests=[request_message(v) for v in views], next_page_token=token
        )

    async def VerifyIdentity(
        self, request: pb.VerifyIdentityRequest, context: grpc.aio.ServicerContext
    ) -> pb.PrivacyRequest:
        return request_message(
            await self.requests.verify_identity(
                acting_for(request.org_id),
                request.request_id,
                request.method,
                request.attestation,
            )
        )

    async def ExtendDeadline(
        self, request: pb.ExtendDeadlineRequest, context: grpc.aio.ServicerContext
    ) -> pb.PrivacyRequest:
        return request_message(
            await self.requests.extend(
                current_principal(),
                request.request_id,
                request.months,
                request.reason,
                request.member_told,
            )
        )

    async def GetCertificate(
        self, request: pb.RequestRef, context: grpc.aio.ServicerContext
    ) -> pb.Certificate:
        found, entries = await self.requests.certificate(
            current_principal().org_id, request.request_id
        )
        return pb.Certificate(
            request_id=found.id,
            entries=[
                pb.CertificateEntry(canonical_json=e.canonical_json, hash=e.hash) for e in entries
            ],
            head_hash=found.certificate_head_hash or "",
            issued_at=to_timestamp(found.completed_at),
        )
