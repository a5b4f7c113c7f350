"""Org API keys are owned by membership; every other service resolves them by asking it."""

from __future__ import annotations

import grpc
from membership.v1 import membership_pb2, membership_pb2_grpc

from services.common.grpc.auth import Principal
from services.common.grpc.client import ServiceClient


def remote_api_key_resolver(membership: ServiceClient):  # type: ignore[no-untyped-def]
    async def resolve(api_key: str) -> Principal | None:
        stub = membership_pb2_grpc.InternalDirectoryStub(membership.channel)
        try:
            found = await membership.call(
                stub.IntrospectApiKey, membership_pb2.IntrospectApiKeyRequest(api_key=api_key)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                return None
            raise
        return Principal(
            kind="org", org_id=found.org_id, scopes=frozenset(found.scopes), key_id=found.key_id
        )

    return resolve
