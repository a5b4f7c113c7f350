"""`privacy.v1.DataSubjectStore` for any service: the service supplies what it holds of a
subject (export) and how it forgets them (erase); this turns both into receipts."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import grpc
from privacy.v1 import data_subject_pb2 as pb
from privacy.v1 import data_subject_pb2_grpc

from services.common.errors import InvalidArgument
from services.common.grpc.auth import acting_for
from services.common.timestamps import now_timestamp


@dataclass(frozen=True)
class Removed:
    category: str
    description: str
    count: int = 1


@dataclass(frozen=True)
class Kept:
    category: str
    description: str
    legal_basis: str
    delete_after: str
    count: int = 1
    pseudonymised: bool = False
    # opaque keyed hashes the erasure service records and hands back after a restore
    tombstones: tuple[str, ...] = ()


@dataclass
class ErasureOutcome:
    removed: list[Removed] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    # provider -> its ids of the records it holds for this store (most stores: none)
    provider_records: dict[str, list[str]] = field(default_factory=dict)
    # nothing was left to erase: the receipt recorded by the erasure that did it
    repeat: bool = False

    def to_json(self) -> str:
        """What a store records with its erasure, to answer a repeated Erase: categories,
        counts, bases and dates, and provider ids; no personal data."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ErasureOutcome:
        data = json.loads(text)
        return cls(
            removed=[Removed(**r) for r in data["removed"]],
            kept=[Kept(**{**k, "tombstones": tuple(k["tombstones"])}) for k in data["kept"]],
            provider_records=data["provider_records"],
            repeat=data["repeat"],
        )


DATA_SUBJECT_SERVICE = "privacy.v1.DataSubjectStore"


class SubjectStore(Protocol):
    async def export(self, org_id: str, subject_id: str) -> dict[str, Any]: ...

    async def erase(self, org_id: str, subject_id: str) -> ErasureOutcome: ...


def _org_of(request: pb.SubjectRequest) -> str:
    if not request.subject_id:
        raise InvalidArgument({"subject_id": "required"})
    return acting_for(request.org_id).org_id


class DataSubjectServicer(data_subject_pb2_grpc.DataSubjectStoreServicer):
    def __init__(self, store_name: str, store: SubjectStore) -> None:
        self.store_name = store_name
        self.store = store

    async def Export(
        self, request: pb.SubjectRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExportReceipt:
        document = await self.store.export(_org_of(request), request.subject_id)
        return pb.ExportReceipt(
            store=self.store_name,
            subject_id=request.subject_id,
            document_json=json.dumps(document, ensure_ascii=False, default=str),
            exported_at=now_timestamp(),
        )

    async def Erase(
        self, request: pb.SubjectRequest, context: grpc.aio.ServicerContext
    ) -> pb.ErasureReceipt:
        outcome = await self.store.erase(_org_of(request), request.subject_id)
        return pb.ErasureReceipt(
            store=self.store_name,
            subject_id=request.subject_id,
            removed=[
                pb.RemovedItem(category=r.category, description=r.description, count=r.count)
                for r in outcome.removed
            ],
            kept=[
                pb.KeptItem(
                    category=k.category,
                    description=k.description,
                    legal_basis=k.legal_basis,
                    delete_after=k.delete_after,
                    count=k.count,
                    pseudonymised=k.pseudonymised,
                    tombstones=k.tombstones,
                )
                for k in outcome.kept
            ],
            erased_at=now_timestamp(),
            provider_records=[
                pb.ProviderRecords(provider=provider, ids=ids)
                for provider, ids in sorted(outcome.provider_records.items())
            ],
            repeat=outcome.repeat,
        )


def add_data_subject_store(server: grpc.aio.Server, store_name: str, store: SubjectStore) -> None:
    data_subject_pb2_grpc.add_DataSubjectStoreServicer_to_server(
        DataSubjectServicer(store_name, store), server
    )
