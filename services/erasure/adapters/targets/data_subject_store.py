"""A service's DataSubjectStore as an erasure target: Erase over gRPC with the internal token
(the client retries transient failures within one attempt; the runner retries the rest). The
tombstones a receipt names go to the erasure ledger before the answer is used: a replay hands
them back to the store if a restore loses them."""

from __future__ import annotations

import grpc
from privacy.v1 import data_subject_pb2, data_subject_pb2_grpc

from services.common.db.engine import Database
from services.common.grpc.client import ServiceClient
from services.erasure.adapters.ledger_repository import record_receipt_tombstones
from services.erasure.domain.outcomes import TargetFailure, TargetResult
from services.erasure.service_layer.targets import TargetJob


class DataSubjectStoreTarget:
    def __init__(self, client: ServiceClient, ledger: Database) -> None:
        self.client = client
        self.ledger = ledger

    async def erase(self, job: TargetJob) -> TargetResult:
        stub = data_subject_pb2_grpc.DataSubjectStoreStub(self.client.channel)
        try:
            receipt = await self.client.call(
                stub.Erase,
                data_subject_pb2.SubjectRequest(subject_id=job.subject_id, org_id=job.org_id),
            )
        except grpc.aio.AioRpcError as exc:
            raise TargetFailure(f"grpc-{exc.code().name.lower()}") from None
        await record_receipt_tombstones(self.ledger, job.org_id, receipt)
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
            note="erased before this attempt: the receipt recorded then" if receipt.repeat else "",
        )
