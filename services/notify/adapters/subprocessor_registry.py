"""The sub-processor list as the erasure service gives it now (privacy.v1.Subprocessors,
internal token): the event that announces a change names the sub-processors, not what an
org must be told of each."""

from __future__ import annotations

from privacy.v1 import subprocessors_pb2 as pb
from privacy.v1 import subprocessors_pb2_grpc

from services.common.grpc.client import ServiceClient


class ErasureSubprocessors:
    def __init__(self, erasure: ServiceClient) -> None:
        self.erasure = erasure

    async def current(self) -> pb.SubprocessorList:
        stub = subprocessors_pb2_grpc.SubprocessorsStub(self.erasure.channel)
        return await self.erasure.call(stub.ListSubprocessors, pb.ListSubprocessorsRequest())
