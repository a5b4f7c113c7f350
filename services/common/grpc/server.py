"""The grpc.aio server of a service: its servicers, health, reflection, the interceptor,
and a graceful stop (in-flight calls get the grace period, new ones are refused)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.grpc.interceptor import ServiceInterceptor

AddServicers = Callable[[grpc.aio.Server], None]


class GrpcServer:
    def __init__(
        self,
        address: str,
        add_servicers: AddServicers,
        service_names: Sequence[str],
        interceptor: ServiceInterceptor,
    ) -> None:
        self.address = address
        self.health = health.aio.HealthServicer()
        self.service_names = list(service_names)
        self.server = grpc.aio.server(
            interceptors=[interceptor],
            options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 4 << 20)],
        )
        add_servicers(self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [*self.service_names, reflection.SERVICE_NAME, health.SERVICE_NAME], self.server
        )
        if self.server.add_insecure_port(address) == 0:
            raise OSError(f"cannot listen for gRPC on {address}")

    async def start(self) -> None:
        await self.set_serving(False)
        await self.server.start()

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self.service_names]:
            await self.health.set(name, status)

    async def stop(self, grace_s: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
