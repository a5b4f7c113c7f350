from __future__ import annotations

import grpc
from privacy.v1 import keyring_pb2, keyring_pb2_grpc

from services.common.grpc.auth import current_principal
from services.common.timestamps import to_timestamp
from services.erasure.domain.ledger import DIRECT
from services.erasure.service_layer.keyring import IssuedKey, Keyring


def data_keys(issued: dict[str, IssuedKey]) -> keyring_pb2.DataKeys:
    return keyring_pb2.DataKeys(
        keys=[
            keyring_pb2.DataKey(
                subject_id=subject, key=key.key, created_at=to_timestamp(key.created_at)
            )
            for subject, key in issued.items()
        ]
    )


class KeyringServicer(keyring_pb2_grpc.KeyringServicer):
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def GetOrCreateKey(
        self, request: keyring_pb2.KeyRequest, context: grpc.aio.ServicerContext
    ) -> keyring_pb2.DataKey:
        issued = await self.keyring.get_or_create(request.subject_id, request.org_id)
        return keyring_pb2.DataKey(
            subject_id=request.subject_id,
            key=issued.key,
            created_at=to_timestamp(issued.created_at),
        )

    async def GetKey(
        self, request: keyring_pb2.KeyRequest, context: grpc.aio.ServicerContext
    ) -> keyring_pb2.DataKey:
        issued = await self.keyring.get(request.subject_id)
        return keyring_pb2.DataKey(
            subject_id=request.subject_id,
            key=issued.key,
            created_at=to_timestamp(issued.created_at),
        )

    async def GetKeys(
        self, request: keyring_pb2.KeysRequest, context: grpc.aio.ServicerContext
    ) -> keyring_pb2.DataKeys:
        return data_keys(await self.keyring.get_many(list(request.subject_ids)))

    async def ReserveKeys(
        self, request: keyring_pb2.ReserveKeysRequest, context: grpc.aio.ServicerContext
    ) -> keyring_pb2.DataKeys:
        return data_keys(await self.keyring.reserve(request.org_id, request.count))

    async def ShredKey(
        self, request: keyring_pb2.KeyRequest, context: grpc.aio.ServicerContext
    ) -> keyring_pb2.ShredReceipt:
        principal = current_principal()
        org_id = principal.org_id if principal.kind == "org" else None
        # The internal token's only: an org erases through a request (the pipeline shreds
        # in-process, KeyShredding), since a key shredded here would block its request.
        shredded_at, already = await self.keyring.shred(request.subject_id, org_id, DIRECT)
        return keyring_pb2.ShredReceipt(
            subject_id=request.subject_id,
            shredded_at=to_timestamp(shredded_at),
            already_shredded=already,
        )
