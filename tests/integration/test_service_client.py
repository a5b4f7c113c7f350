"""Outbound gRPC between services that start side by side: a peer that was not listening at
the first call is reached as soon as it is, not after gRPC's default one-second reconnect
wait (membership's first retention sweep used to put its channel to erasure into that wait,
and the sign-up after it answered UNAVAILABLE)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from kontingent_cli.devstack import free_port
from services.common.grpc.client import ServiceClient


async def test_a_peer_that_starts_after_the_first_call_is_reached_at_once() -> None:
    address = f"127.0.0.1:{free_port()}"
    client = ServiceClient("peer", address, "token", deadline_s=2.0, attempts=1)
    stub = health_pb2_grpc.HealthStub(client.channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.call(stub.Check, health_pb2.HealthCheckRequest())
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # nobody listens yet

    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    server.add_insecure_port(address)
    await server.start()
    try:
        await asyncio.sleep(0.3)
        answer = await client.call(stub.Check, health_pb2.HealthCheckRequest())
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await client.close()
        await server.stop(0)
