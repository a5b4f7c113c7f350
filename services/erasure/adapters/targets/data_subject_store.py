"""A service's DataSubjectStore as an erasure target: Erase over gRPC with the internal token
(the client retries transient failures within one attempt; the runner retries the rest)."""

from __future__ import annotations

import grpc
from privacy.v1 import data_subject_pb2, data_subject_pb2_grpc

from services.common.grpc.client import ServiceClient
from services.erasure.domain.outcomes import TargetFailure, TargetResult
from services.erasure.service_layer.targets import TargetJob


class DataSubjectStoreTarget:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def erase(self, job: TargetJob) -> TargetResult:
        stub = data_subject_pb2_grpc.DataSubjectStoreStub(self.client.channel)
        try:
            receipt = await self.client.call(
                stub.Erase,
                data_subject_pb2.SubjectRequest(subject_id=job.subject_id, org_id=job.org_id),
            )
        except grpc.aio.AioRpcError as exc:
            raise TargetFailure(f"grpc-{exc.code().name.lower()}") from None
        return TargetResult(
            removed=[
                {"category": r.category, "description": r.description, "count": r.count}
                for r in receipt.removed
            ],
            kept=[
                {
                    "category": k.category,
                    "description": k.description,
                    "legal_basis": k.legal_basis,
                    "delete_after": k.delete_after,
                    "count": k.count,
                    "pseudonymised": k.pseudonymised,
                }
                for k in receipt.kept
            ],
            provider_records={p.provider: list(p.ids) for p in receipt.provider_records},
        )
