"""Every store's export for one member: DataSubjectStore.Export over gRPC with the internal
token (naming the org) for the other services, and the erasure service's own in process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import grpc
from privacy.v1 import data_subject_pb2, data_subject_pb2_grpc

from services.common.grpc.client import ServiceClient
from services.common.grpc.data_subject import SubjectStore
from services.erasure.domain.outcomes import TargetFailure

OWN_STORE = "erasure"


class StoreExports:
    def __init__(self, stores: Mapping[str, ServiceClient], own: SubjectStore) -> None:
        self.stores = stores
        self.own = own

    async def export(self, org_id: str, member_id: str) -> dict[str, dict[str, Any]]:
        """Each store's document by store name; raises TargetFailure naming the first store
        that did not answer (all or nothing: a partial export would mislead the member)."""
        names = sorted(self.stores)
        documents = await asyncio.gather(
            *(self._remote(name, org_id, member_id) for name in names),
            self.own.export(org_id, member_id),
        )
        return dict(zip([*names, OWN_STORE], documents, strict=True))

    async def _remote(self, name: str, org_id: str, member_id: str) -> dict[str, Any]:
        client = self.stores[name]
        stub = data_subject_pb2_grpc.DataSubjectStoreStub(client.channel)
        try:
            receipt = await client.call(
                stub.Export, data_subject_pb2.SubjectRequest(subject_id=member_id, org_id=org_id)
            )
        except grpc.aio.AioRpcError as exc:
            raise TargetFailure(f"{name}-grpc-{exc.code().name.lower()}") from None
        document: dict[str, Any] = json.loads(receipt.document_json)
        return document
