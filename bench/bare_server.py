"""The bare server the member-API benchmark compares membership with: the same gRPC service,
answering GetMember and RegisterMember with a fixed Member; no interceptor, auth, database or
keyring. The ceiling for this transport and these messages. It runs as a child process of its
own, as the real service does:

    python -m bench.bare_server PORT
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
from membership.v1 import membership_pb2, membership_pb2_grpc

from kontingent_cli.devstack import free_port, wait_for_port

# What the bare server answers: shaped like a real answer (uuid ids, sign-up-like fields).
BARE_MEMBER = membership_pb2.Member(
    member_id="0b9e2a8e-5d0c-4f57-9a51-3f1d2c7e8b10",
    org_id="5e0c1d2a-8f3b-4c6d-9e7f-0a1b2c3d4e5f",
    name="Bench Medlem 1234",
    email="bench-0123abcd-1234@bench.kontingent.no",
    phone="+4790001234",
    language="nb",
    status="pending",
)
BARE_MEMBER.registered_at.FromSeconds(1_767_225_600)


class BareMembership(membership_pb2_grpc.MembershipServiceServicer):
    async def GetMember(
        self, request: membership_pb2.GetMemberRequest, context: grpc.aio.ServicerContext
    ) -> membership_pb2.Member:
        return BARE_MEMBER

    async def RegisterMember(
        self, request: membership_pb2.RegisterMemberRequest, context: grpc.aio.ServicerContext
    ) -> membership_pb2.Member:
        return BARE_MEMBER


async def serve_bare(port: int) -> None:
    server = grpc.aio.server()
    membership_pb2_grpc.add_MembershipServiceServicer_to_server(BareMembership(), server)
    if server.add_insecure_port(f"127.0.0.1:{port}") == 0:
        raise OSError(f"cannot listen for gRPC on 127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(0)


@contextlib.contextmanager
def bare_server(timeout_s: float = 30.0) -> Iterator[tuple[str, int]]:
    """`python -m bench.bare_server PORT` as a child process; (address, pid)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_server", str(port)],
        start_new_session=True,  # stopped by us, not by a Ctrl-C meant for the benchmark
    )
    try:
        wait_for_port(port, time.monotonic() + timeout_s)
        if proc.poll() is not None:
            raise RuntimeError(f"the bare server exited with {proc.returncode}")
        yield f"127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    asyncio.run(serve_bare(int(sys.argv[1])))
