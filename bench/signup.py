"""Sign-up benchmark: N members registered through the gRPC API, measured until notify has
recorded each one's welcome email, against the raw broker produce+consume rate.

    python -m bench.signup --n 3000 --concurrency 64 --warmup 50

Starts its own stack (broker, localstripe, the four services) on random loopback ports with a
throwaway data directory, and always stops it. A benchmark measures: it exits 0 whether or not
the target is met, and says which.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from dataclasses import dataclass, field

import grpc
from events.v1.envelope_pb2 import Envelope
from membership.v1 import membership_pb2, membership_pb2_grpc
from notify.v1 import events_pb2 as notify_events

from bench import procstat
from bench.baseline import BaselineResult, assigned_consumer, run_baseline
from bench.common import (
    Calls,
    bearer,
    create_org,
    local_stack,
    percentile,
    register_request,
    run_calls,
)
from bench.report import Figure, labelled_rows, publish
from kontingent_cli.devstack import Stack
from services.common.topics import MESSAGE_RECORDED

TARGET_PER_S = 300.0


@dataclass
class Welcomes:
    """MessageRecorded events seen on notify.message-recorded.v1, by member id."""

    occurred: dict[str, float] = field(default_factory=dict)  # occurred_at, epoch seconds
    arrived: dict[str, float] = field(default_factory=dict)  # seen by this process

    def record(self, raw: bytes) -> None:
        envelope = Envelope()
        envelope.ParseFromString(raw)
        recorded = notify_events.MessageRecorded()
        if not envelope.payload.Unpack(recorded) or recorded.template != "welcome":
            return
        self.arrived.setdefault(recorded.member_id, time.time())
        self.occurred.setdefault(recorded.member_id, envelope.occurred_at.ToNanoseconds() / 1e9)

    async def wait_for(
        self, member_ids: list[str], deadline: float, listener: asyncio.Task[None]
    ) -> bool:
        while True:
            if all(m in self.occurred for m in member_ids):
                return True
            if listener.done():  # the consumer died: nothing more will arrive
                listener.result()
                return False
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)


@dataclass
class Report:
    n: int
    concurrency: int
    warmup: int
    phase: Calls
    welcomes: Welcomes
    cpu: dict[str, float | None]
    cpu_wall_s: float
    machine_busy: float | None
    load_before: str
    baseline: BaselineResult | None
    baseline_error: str = ""
    timed_out: bool = False


class SignupDriver:
    def __init__(self, channel: grpc.aio.Channel, api_key: str, run_id: str) -> None:
        self.stub = membership_pb2_grpc.MembershipServiceStub(channel)
        self.metadata = bearer(api_key)
        self.run_id = run_id
        self.next_serial = 0  # unique across warm-up and measured phase

    def request(self) -> membership_pb2.RegisterMemberRequest:
        serial = self.next_serial
        self.next_serial += 1
        return register_request(self.run_id, serial)

    async def run(self, count: int, concurrency: int, phase: Calls | None = None) -> Calls:
        """Fills `phase` as answers come, so a run cut short by a timeout still reports."""
        requests = [self.request() for _ in range(count)]  # built before the clock starts
        return await run_calls(
            self.stub.RegisterMember, requests, concurrency, self.metadata, phase
        )


def member_ids(phase: Calls) -> dict[int, str]:
    """Request index -> the id of the member RegisterMember answered with."""
    return {i: member.member_id for i, member in phase.replies.items()}


async def listen(consumer, welcomes: Welcomes) -> None:  # type: ignore[no-untyped-def]
    while True:
        batches = await consumer.getmany(timeout_ms=100, max_records=1000)
        for records in batches.values():
            for record in records:
                welcomes.record(record.value)


async def measure(stack: Stack, args: argparse.Namespace) -> Report:
    deadline = time.monotonic() + args.timeout
    welcomes = Welcomes()
    consumer = await assigned_consumer(stack.broker, MESSAGE_RECORDED.name)
    listener = asyncio.create_task(listen(consumer, welcomes))
    channel = grpc.aio.insecure_channel(stack.grpc_addr("membership"))
    pids = {name: proc.pid for name, proc in stack.processes.items()}
    pids["bench (this process)"] = os.getpid()
    timed_out = False
    try:
        api_key = await create_org(channel, stack.secrets["ADMIN_TOKEN"])
        driver = SignupDriver(channel, api_key, uuid.uuid4().hex[:8])

        # Warm-up: channels, key caches, consumer group joins; waited out, not counted.
        if args.warmup:
            warm = await asyncio.wait_for(
                driver.run(args.warmup, args.concurrency), max(1.0, deadline - time.monotonic())
            )
            warm_ids = list(member_ids(warm).values())
            if not await welcomes.wait_for(warm_ids, deadline, listener):
                print(
                    f"warning: only {len(welcomes.occurred)} of {len(warm_ids)} "
                    "warm-up welcomes arrived",
                    file=sys.stderr,
                )

        load_before = procstat.load_average()
        cpu_before, wall_before = procstat.snapshot(pids), time.monotonic()
        machine_before = procstat.machine_jiffies()
        phase = Calls()
        try:
            await asyncio.wait_for(
                driver.run(args.n, args.concurrency, phase), max(1.0, deadline - time.monotonic())
            )
        except TimeoutError:
            timed_out = True
        if not await welcomes.wait_for(list(member_ids(phase).values()), deadline, listener):
            timed_out = True
        cpu = procstat.used(cpu_before, procstat.snapshot(pids))
        cpu_wall_s = time.monotonic() - wall_before
        busy = procstat.machine_busy(machine_before, procstat.machine_jiffies())
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await consumer.stop()
        await channel.close()

    baseline, baseline_error = None, ""
    try:
        baseline = await run_baseline(stack.broker, args.n, max(30.0, deadline - time.monotonic()))
    except Exception as exc:  # a benchmark reports what it could not measure
        baseline_error = f"{type(exc).__name__}: {exc}"
    return Report(
        args.n,
        args.concurrency,
        args.warmup,
        phase,
        welcomes,
        cpu,
        cpu_wall_s,
        busy,
        load_before,
        baseline,
        baseline_error,
        timed_out,
    )


def throughput(report: Report) -> tuple[list[int], float, float]:
    """(requests whose welcome was recorded, seconds from the first sent to the last welcome,
    end-to-end sign-ups/s)."""
    phase, welcomes = report.phase, report.welcomes
    member_of = member_ids(phase)
    done = [i for i, m in member_of.items() if m in welcomes.occurred]
    first_sent = min(phase.sent_at.values(), default=float("nan"))
    last_welcome = max((welcomes.occurred[member_of[i]] for i in done), default=float("nan"))
    elapsed = last_welcome - first_sent
    return done, elapsed, len(done) / elapsed if done and elapsed > 0 else 0.0


def figures(report: Report) -> list[Figure]:
    done, _, rate = throughput(report)
    base = report.baseline
    return [
        Figure(
            "sign-up -> welcome recorded",
            rate,
            "sign-ups/s",
            None if base is None else base.rate,
            "msgs/s broker produce+consume",
            f">= {TARGET_PER_S:.0f} sign-ups/s",
            len(done) == report.n and rate >= TARGET_PER_S,
        )
    ]


def render(report: Report) -> str:
    phase, welcomes = report.phase, report.welcomes
    member_of = member_ids(phase)
    accepted = len(member_of)
    failed = sum(phase.failures.values())
    done, elapsed, rate = throughput(report)
    first_sent = min(phase.sent_at.values(), default=float("nan"))
    last_answer = max(phase.answered_at.values(), default=float("nan"))
    api_rate = accepted / (last_answer - first_sent) if accepted else 0.0
    by_occurred = sorted(welcomes.occurred[member_of[i]] - phase.sent_at[i] for i in done)
    by_arrival = sorted(welcomes.arrived[member_of[i]] - phase.sent_at[i] for i in done)
    rpc = sorted(phase.answered_at[i] - phase.sent_at[i] for i in phase.answered_at)
    complete = len(done) == report.n

    def ms(values: list[float]) -> str:
        if not values:
            return "n/a"
        return " / ".join(f"{percentile(values, q) * 1000:.0f}" for q in (50, 99, 100)) + " ms"

    rows: list[tuple[str, str]] = [
        (
            "sign-ups sent / accepted / failed",
            f"{len(phase.sent_at)} / {accepted} / {failed}"
            + (f"  {dict(sorted(phase.failures.items()))}" if failed else ""),
        ),
        (
            "welcomes recorded",
            f"{len(done)} of {report.n}"
            + ("" if complete else "  (INCOMPLETE: figures below cover those that arrived)"),
        ),
        ("elapsed (first sent -> last welcome)", f"{elapsed:.2f} s" if done else "n/a"),
        ("end-to-end throughput", f"{rate:.1f} sign-ups/s"),
        ("latency p50 / p99 / max", ms(by_occurred)),
        ("  (RegisterMember sent -> MessageRecorded.occurred_at)", ""),
        ("latency by arrival p50 / p99 / max", ms(by_arrival)),
        ("  (RegisterMember sent -> welcome event consumed here)", ""),
        ("RegisterMember rate / rpc p50/p99/max", f"{api_rate:.1f} /s   {ms(rpc)}"),
    ]
    base = report.baseline
    if base is not None:
        rows += [
            (
                "broker baseline produce+consume",
                f"{base.rate:.0f} msgs/s  ({base.received}/{base.messages} msgs, "
                f"{base.total_s:.2f} s; produce alone {base.produce_rate:.0f} msgs/s)",
            ),
            ("ratio end-to-end / baseline", f"{rate / base.rate:.3f}" if base.rate else "n/a"),
        ]
    else:
        rows.append(("broker baseline", f"FAILED: {report.baseline_error}"))
    met = complete and rate >= TARGET_PER_S
    rows.append(
        (
            f"target >= {TARGET_PER_S:.0f} sign-ups/s",
            "MET"
            if met
            else f"MISSED ({rate:.1f}/s" + ("" if complete else ", not all welcomes arrived") + ")",
        )
    )
    if report.timed_out:
        rows.append(("timeout", "the run hit its time limit; see 'welcomes recorded'"))

    lines = labelled_rows(
        f"Kontingent sign-up benchmark: N={report.n}, concurrency={report.concurrency}, "
        f"warm-up={report.warmup}, {os.cpu_count()} CPUs",
        rows,
    )
    lines += cpu_table(report, len(done))
    return "\n".join(lines)


def cpu_table(report: Report, welcomed: int) -> list[str]:
    """CPU seconds per process over the measured run, and per sign-up: where the time goes."""
    wall, cores = report.cpu_wall_s, os.cpu_count() or 1
    busy = (
        "n/a"
        if report.machine_busy is None
        else f"{100 * report.machine_busy:.0f}% of {cores} CPUs"
    )
    lines = [
        "",
        f"CPU during the measured run ({wall:.2f} s wall; whole machine busy {busy}; "
        f"load average before {report.load_before}):",
        *procstat.cpu_rows(report.cpu, wall, welcomed, "sign-up"),
    ]
    total = sum(s for s in report.cpu.values() if s is not None)
    if wall and welcomed and total:
        ms = 1000 * total / welcomed
        lines.append(
            f"  CPU-bound ceiling at this cost: {cores} CPUs x 1000 ms / {ms:.1f} ms "
            f"= {cores * 1000 / ms:.0f} sign-ups/s"
        )
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.signup",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--n", type=int, default=3000, help="members to register (default 3000)")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="RegisterMember calls in flight (default 64)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=50,
        help="members registered first and not counted (default 50)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds for warm-up + measured run + baseline (default 300)",
    )
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the stack's data directory (logs, SQLite files)",
    )
    args = parser.parse_args(argv)
    if args.n < 1 or args.concurrency < 1 or args.warmup < 0 or args.timeout <= 0:
        parser.error("--n and --concurrency must be >= 1, --warmup >= 0, --timeout > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with local_stack(args.keep_data) as stack:
        print(
            f"running: {args.warmup} warm-up + {args.n} measured sign-ups ...",
            file=sys.stderr,
            flush=True,
        )
        # A hard stop beyond the phases' own bounds, so the run always ends.
        report = asyncio.run(asyncio.wait_for(measure(stack, args), args.timeout + 120))
        print(render(report))
        publish(figures(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
