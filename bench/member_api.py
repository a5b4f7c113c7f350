"""Member-API benchmark: GetMember and RegisterMember through the real membership service,
beside a bare grpc.aio handler of the same service measured in the same run.

    python -m bench.member_api --n 15000 --concurrency 32 --warmup 300 --members 1000

The bare server (bench/bare_server.py) and the real service are driven by the same client
code from this process, with the same concurrency and the same requests (auth metadata
included). Phases, in order: bare GetMember, real GetMember (members registered beforehand,
ids round-robin), bare RegisterMember, real RegisterMember (unique emails), and for comparison
RegisterMember with billing and notify paused. Each phase has its own warm-up, and starts once
the stack has gone quiet (the sign-ups before it set off billing and notify work).

Targets: real GetMember >= 60% and real RegisterMember >= 30% of the bare handler's rate.
Starts its own stack on random loopback ports with a throwaway data directory and always stops
it. A benchmark measures: it exits 0 whether or not a target is met, and says which.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
import uuid

import grpc
from membership.v1 import membership_pb2, membership_pb2_grpc

from bench import procstat
from bench.bare_server import bare_server
from bench.common import bearer, create_org, local_stack, run_calls
from bench.member_api_report import PhaseResult, Report, figures, render
from bench.report import publish
from bench.signup import SignupDriver, member_ids
from kontingent_cli.devstack import Stack

PLAN = (
    ("bare", "GetMember"),
    ("real", "GetMember"),
    ("bare", "RegisterMember"),
    ("real", "RegisterMember"),
    # For comparison, not the target: membership alone, its consumers paused (SIGSTOP) for the
    # measured calls, as if billing and notify ran on cores of their own.
    ("alone", "RegisterMember"),
)
CONSUMERS_PAUSED = "alone"
# Services that consume membership.member-registered.v1: each sign-up is work for them.
CONSUMERS = ("billing", "notify")
# The stack counts as quiet when its processes together use less than this share of a core.
QUIET_SHARE = 0.15
QUIET_WINDOW_S = 0.25
QUIET_TIMEOUT_S = 60.0

# --- measuring ----------------------------------------------------------------------------


def counter(stack: Stack, service: str, name: str, **labels: str) -> float | None:
    """A counter of the service now; None when its page cannot be read."""
    try:
        return stack.metric(service, f"{service}_{name}", labels)
    except OSError:
        return None


def keyring_calls(stack: Stack) -> float | None:
    """Calls membership has made to the keyring so far."""
    return counter(stack, "membership", "outbound_calls_total", target="keyring")


async def settle(stack: Stack, registered: int) -> None:
    """Waits until billing and notify have handled every sign-up so far and the stack's
    processes are quiet, so that a phase is not charged for the work of the one before it.
    (A fresh stack's consumers join their groups a few seconds after it starts serving.)"""
    deadline = time.monotonic() + QUIET_TIMEOUT_S
    pids = {name: proc.pid for name, proc in stack.processes.items()}
    for service in CONSUMERS:
        while True:
            handled = await asyncio.to_thread(
                counter,
                stack,
                service,
                "consumer_messages_total",
                consumer=f"{service}.member-registered",
            )
            if handled is not None and handled >= registered:
                break
            if time.monotonic() > deadline:
                print(
                    f"warning: {service} handled {handled} of {registered} sign-ups in time",
                    file=sys.stderr,
                )
                break
            await asyncio.sleep(0.2)
    while time.monotonic() < deadline:
        before = procstat.snapshot(pids)
        await asyncio.sleep(QUIET_WINDOW_S)
        used = procstat.used(before, procstat.snapshot(pids))
        if sum(s for s in used.values() if s is not None) < QUIET_SHARE * QUIET_WINDOW_S:
            break


async def measure(stack: Stack, bare_addr: str, bare_pid: int, args: argparse.Namespace) -> Report:
    real_channel = grpc.aio.insecure_channel(stack.grpc_addr("membership"))
    bare_channel = grpc.aio.insecure_channel(bare_addr)
    pids = {
        "bench client": os.getpid(),
        "bare server": bare_pid,
        **{name: proc.pid for name, proc in stack.processes.items()},
    }
    try:
        api_key = await create_org(real_channel, stack.secrets["ADMIN_TOKEN"])
        metadata = bearer(api_key)  # sent to both servers: the same bytes on the wire
        stubs = {
            "real": membership_pb2_grpc.MembershipServiceStub(real_channel),
            "bare": membership_pb2_grpc.MembershipServiceStub(bare_channel),
        }
        stubs[CONSUMERS_PAUSED] = stubs["real"]
        signups = SignupDriver(real_channel, api_key, uuid.uuid4().hex[:8])

        print(f"registering {args.members} members to read ...", file=sys.stderr, flush=True)
        seeded = await signups.run(args.members, args.concurrency)
        ids = list(member_ids(seeded).values())
        if not ids:
            raise RuntimeError(f"no member could be registered: {seeded.failures}")
        registered = len(ids)  # sign-ups accepted so far: billing's and notify's work
        turn = 0

        def get_requests(count: int) -> list[membership_pb2.GetMemberRequest]:
            nonlocal turn
            start, turn = turn, turn + count
            return [
                membership_pb2.GetMemberRequest(member_id=ids[(start + i) % len(ids)])
                for i in range(count)
            ]

        def register_requests(count: int) -> list[membership_pb2.RegisterMemberRequest]:
            return [signups.request() for _ in range(count)]

        make = {"GetMember": get_requests, "RegisterMember": register_requests}
        load_before = procstat.load_average()
        phases = []
        for target, method in PLAN:
            rpc = getattr(stubs[target], method)
            print(f"{target} {method} ...", file=sys.stderr, flush=True)
            if args.warmup:
                warm = await run_calls(rpc, make[method](args.warmup), args.concurrency, metadata)
                if target != "bare" and method == "RegisterMember":
                    registered += len(warm.replies)
            requests = make[method](args.n)  # built before the clock starts
            await settle(stack, registered)
            paused = CONSUMERS if target == CONSUMERS_PAUSED else ()
            for name in paused:
                stack.signal(name, signal.SIGSTOP)
            keyring_before = keyring_calls(stack)
            cpu_before, machine_before = procstat.snapshot(pids), procstat.machine_jiffies()
            started = time.monotonic()
            try:
                calls = await run_calls(rpc, requests, args.concurrency, metadata)
            finally:
                for name in paused:
                    stack.signal(name, signal.SIGCONT)
            cpu = procstat.used(cpu_before, procstat.snapshot(pids))
            busy = procstat.busy_seconds(machine_before, procstat.machine_jiffies())
            cpu_wall_s = time.monotonic() - started
            keyring_after = keyring_calls(stack)
            keyring = (
                None
                if keyring_before is None or keyring_after is None
                else keyring_after - keyring_before
            )
            phases.append(PhaseResult(target, method, calls, cpu, cpu_wall_s, busy, keyring))
    finally:
        await real_channel.close()
        await bare_channel.close()
    return Report(args, len(ids), phases, load_before)


# --- command line -------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.member_api",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--n",
        type=int,
        default=15000,
        help="calls per phase (default 15000; shorter runs are noisier)",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight (default 32)")
    parser.add_argument(
        "--warmup", type=int, default=300, help="calls before each phase, not counted (default 300)"
    )
    parser.add_argument(
        "--members",
        type=int,
        default=1000,
        help="members registered first, read round-robin by GetMember (default 1000)",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds for the whole run (default 300)"
    )
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the stack's data directory (logs, SQLite files)",
    )
    args = parser.parse_args(argv)
    if args.n < 1 or args.concurrency < 1 or args.warmup < 0 or args.members < 1:
        parser.error("--n, --concurrency and --members must be >= 1, --warmup >= 0")
    if args.timeout <= 0:
        parser.error("--timeout must be > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with local_stack(args.keep_data) as stack, bare_server() as (bare_addr, bare_pid):
        report = asyncio.run(
            asyncio.wait_for(measure(stack, bare_addr, bare_pid, args), args.timeout)
        )
        print(render(report))
        publish(figures(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
