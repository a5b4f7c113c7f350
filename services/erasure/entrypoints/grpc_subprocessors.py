"""privacy.v1.Subprocessors: the registry file, as loaded at start (the same for every org)."""

from __future__ import annotations

import grpc
from privacy.v1 import subprocessors_pb2 as pb
from privacy.v1 import subprocessors_pb2_grpc

from services.erasure.subprocessors import SubprocessorRegistry


class SubprocessorsServicer(subprocessors_pb2_grpc.SubprocessorsServicer):
    def __init__(self, registry: SubprocessorRegistry) -> None:
        # Built once: the file does not change while the service runs.
        self.answer = pb.SubprocessorList(
            version=registry.version,
            last_changed=registry.last_changed.isoformat(),
            subprocessors=[pb.Subprocessor(**s.model_dump()) for s in registry.subprocessors],
        )

    async def ListSubprocessors(
        self, request: pb.ListSubprocessorsRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubprocessorList:
        return self.answer
