"""What the benchmarks share: the throwaway local stack, the benchmark org, sign-up requests,
a closed-loop gRPC driver and the percentile they report."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from membership.v1 import membership_pb2, membership_pb2_grpc

from bench import procstat
from bench.report import publish_memory
from kontingent_cli.devstack import Stack, StackConfig

ORG_NUMBER = "974760673"  # a valid organisasjonsnummer (MOD11); the stack is fresh
RPC_TIMEOUT_S = 30.0

Metadata = tuple[tuple[str, str], ...]


@contextmanager
def local_stack(
    keep_data: bool = False, service_env: dict[str, dict[str, str]] | None = None
) -> Iterator[Stack]:
    """The whole stack on random loopback ports with a throwaway data directory; always
    stopped. The directory is kept (and named) with --keep-data or when the run fails.
    `service_env`: extra environment per service (StackConfig.service_env)."""
    data_dir = Path(tempfile.mkdtemp(prefix="kontingent-bench-"))
    keep = keep_data
    stack = Stack(StackConfig(data_dir=data_dir, random_ports=True, service_env=service_env or {}))
    try:
        print(f"starting the stack in {data_dir} ...", file=sys.stderr, flush=True)
        stack.start()
        yield stack
    except BaseException:
        keep = True
        print(f"benchmark failed; logs kept in {data_dir / 'logs'}", file=sys.stderr)
        raise
    finally:
        # Peak over the whole run (VmHWM), read before the processes go: the loaded phases
        # are where it is reached.
        publish_memory(
            {name: procstat.peak_rss_kib(proc.pid) for name, proc in stack.processes.items()}
        )
        stack.stop()
        if keep:
            print(f"data kept in {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


async def create_org(channel: grpc.aio.Channel, admin_token: str) -> str:
    """The benchmark's org, created with the platform admin token; returns its API key."""
    stub = membership_pb2_grpc.MembershipServiceStub(channel)
    created = await stub.CreateOrg(
        membership_pb2.CreateOrgRequest(
            name="Benk og Bane IL", org_number=ORG_NUMBER, language="nb"
        ),
        timeout=RPC_TIMEOUT_S,
        metadata=bearer(admin_token),
    )
    return created.api_key


def register_request(run_id: str, serial: int) -> membership_pb2.RegisterMemberRequest:
    """A valid sign-up, unique by (run_id, serial): email and Norwegian mobile number."""
    return membership_pb2.RegisterMemberRequest(
        name=f"Bench Medlem {serial}",
        email=f"bench-{run_id}-{serial}@bench.kontingent.no",
        phone=f"+479{serial % 10_000_000:07d}",  # Norwegian mobile: 9 + 7 digits
        language="nb" if serial % 2 else "en",
    )


@dataclass
class Calls:
    """What a closed-loop run saw, by request index; filled as answers come, so a run cut
    short by a timeout still reports."""

    sent_at: dict[int, float] = field(default_factory=dict)  # epoch seconds
    answered_at: dict[int, float] = field(default_factory=dict)
    replies: dict[int, Any] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # status code name -> count


async def run_calls(
    rpc: Callable[..., Awaitable[Any]],
    requests: Sequence[Any],
    concurrency: int,
    metadata: Metadata,
    calls: Calls | None = None,
) -> Calls:
    """Sends every request through `rpc` (a unary stub method) with `concurrency` calls in
    flight, each worker sending its next request as soon as the previous one is answered.
    Build the requests before the clock starts."""
    calls = calls if calls is not None else Calls()
    cursor = iter(range(len(requests)))

    async def worker() -> None:
        for i in cursor:
            calls.sent_at[i] = time.time()
            try:
                reply = await rpc(requests[i], timeout=RPC_TIMEOUT_S, metadata=metadata)
            except grpc.aio.AioRpcError as exc:
                name = exc.code().name
                calls.failures[name] = calls.failures.get(name, 0) + 1
                continue
            calls.answered_at[i] = time.time()
            calls.replies[i] = reply

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(requests))))))
    return calls


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]
