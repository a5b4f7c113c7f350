"""Erasure benchmark: erasure request -> certificate latency, and the drain rate of queued
erasures, with every target on loopback.

    python -m bench.erasure --n 1000 --sample 50 --concurrency 32

The stack (broker, localstripe, the four services, as `kontingent dev up` runs them) starts on
random ports with notify on EMAIL_MODE=sendgrid and SMS_MODE=twilio against the loopback
SendGrid and Twilio servers (tests/loopback/, each in a process of its own; notify's own rate
limits lifted), and erasure's SENDGRID_* and TWILIO_* settings pointed at the same servers.
Billing runs as in the stack (its default fee), so every member has an invoice that billing's
erasure pseudonymises; Stripe is localstripe (no customer is made before a payment, so the
stripe target records billing's answer). Then:

- set-up (not timed): N + sample members registered through gRPC (64 in flight); one SMS to
  each through notify's SendToMembers (legal basis contract), so that every member has records
  at both SendGrid (welcome, invoice) and Twilio; the benchmark waits until notify has handed
  all of them to the providers (notify.message-recorded.v1: welcome, invoice-issued, SMS);
- latency: for `sample` members, one at a time: FileRequest(erasure), VerifyIdentity, then the
  completion. The completion time is the occurred_at of the request's
  privacy.erasure-completed.v1 envelope (stamped in the transaction that issues the
  certificate), read from Kafka, so polling adds nothing; after the event the benchmark checks
  GetRequest says `completed` and GetCertificate answers with a chain that verifies (that
  answer's time is printed too: it adds the outbox relay and the local broker's fetch wait).
  Latency = FileRequest sent -> completion. From the certificates it also prints, per
  target, when it finished after the identity check (the medians), to show where time goes;
- drain: FileRequest + VerifyIdentity for the other N members with `concurrency` pairs in
  flight, as fast as the API answers; the drain rate is N / (first VerifyIdentity sent -> last
  completion), completions counted from the events. The filing rate (N / first FileRequest
  sent -> last VerifyIdentity answered) is printed separately, and so is the rate of the
  completions after the last VerifyIdentity answer. Each process's CPU is taken over the
  drain phase (first FileRequest -> last completion seen).

Targets (issue 6): latency p99 < 2 s, drain >= 100 erasures/s. Not measured: real providers'
latency (the loopback servers answer at once), SendGrid's erase job finishing (it is recorded
when accepted), restriction and objection requests, PostgreSQL. A benchmark measures: it
exits 0 whether or not a target is met, and says which.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from statistics import median

import grpc
from events.v1.envelope_pb2 import Envelope
from membership.v1 import membership_pb2_grpc
from notify.v1 import events_pb2 as notify_events
from notify.v1 import notify_pb2, notify_pb2_grpc
from privacy.v1 import events_pb2 as privacy_events
from privacy.v1 import requests_pb2 as pb
from privacy.v1 import requests_pb2_grpc

from bench import procstat
from bench.baseline import assigned_consumer
from bench.common import (
    RPC_TIMEOUT_S,
    Calls,
    Metadata,
    bearer,
    create_org,
    local_stack,
    percentile,
    register_request,
    run_calls,
)
from kontingent_cli.devstack import Stack
from services.common.topics import ERASURE_COMPLETED, MESSAGE_RECORDED
from services.erasure.domain.certificate import Entry, verify
from tests.loopback import sendgrid as sendgrid_loopback
from tests.loopback import twilio as twilio_loopback

TARGET_P99_S = 2.0
TARGET_RATE = 100.0
REGISTER_CONCURRENCY = 64
SMS_BATCH = 1000  # SendToMembers takes at most 1000 members
POLL_S = 0.1
ROOT = Path(__file__).resolve().parents[1]


# -- the loopback providers, each in a process of its own ---------------------------------


async def _serve_twilio() -> None:
    server = twilio_loopback.TwilioLoopback()
    print(await server.start(), flush=True)
    await asyncio.Event().wait()


def start_loopback(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    """A loopback server started with `python <args>`; it prints its base URL first."""
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http"):
        proc.kill()
        raise SystemExit(f"the loopback server {args} did not start")
    return proc, base_url


def stack_env(sendgrid_url: str, twilio_url: str) -> dict[str, dict[str, str]]:
    sendgrid = {
        "SENDGRID_API_KEY": sendgrid_loopback.API_KEY,
        "SENDGRID_BASE_URL": sendgrid_url,
    }
    twilio = {
        "TWILIO_ACCOUNT_SID": twilio_loopback.ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": twilio_loopback.AUTH_TOKEN,
        "TWILIO_BASE_URL": twilio_url,
    }
    return {
        "notify": {
            "EMAIL_MODE": "sendgrid",
            "SMS_MODE": "twilio",
            **sendgrid,
            **twilio,
            "TWILIO_FROM": "+4790000000",
            "SENDGRID_REQUESTS_PER_S": "1000000",
            "TWILIO_REQUESTS_PER_S": "1000000",
        },
        "erasure": {**sendgrid, **twilio},
    }


# -- what Kafka says -----------------------------------------------------------------------


def epoch(envelope: Envelope) -> float:
    return envelope.occurred_at.ToNanoseconds() / 1e9


class Listener:
    """Reads a topic from its beginning in the background (the stack is fresh, so every
    record is the run's) and hands each envelope to `on_envelope`."""

    def __init__(self, stack: Stack, topic: str) -> None:
        self.stack = stack
        self.topic = topic
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.consumer = await assigned_consumer(self.stack.broker, self.topic)
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=100, max_records=1000)
            for records in batches.values():
                for record in records:
                    envelope = Envelope()
                    envelope.ParseFromString(record.value)
                    self.on_envelope(envelope)

    def on_envelope(self, envelope: Envelope) -> None:
        raise NotImplementedError

    def check(self) -> None:
        if self.task is not None and self.task.done():  # the reader died: say why
            self.task.result()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.consumer.stop()


class Messages(Listener):
    """notify.message-recorded.v1: how many messages were handed to a provider, by kind."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(stack, MESSAGE_RECORDED.name)
        self.counts: Counter[tuple[str, str]] = Counter()  # (template, channel) -> messages

    def on_envelope(self, envelope: Envelope) -> None:
        recorded = notify_events.MessageRecorded()
        if envelope.payload.Unpack(recorded):
            self.counts[recorded.template, recorded.channel] += 1


class Completions(Listener):
    """privacy.erasure-completed.v1: each request's completion (the envelope's occurred_at)
    and when this process saw it, epoch seconds."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(stack, ERASURE_COMPLETED.name)
        self.occurred: dict[str, float] = {}
        self.seen: dict[str, float] = {}
        self.changed = asyncio.Event()

    def on_envelope(self, envelope: Envelope) -> None:
        completed = privacy_events.ErasureCompleted()
        if envelope.payload.Unpack(completed):
            self.occurred.setdefault(completed.request_id, epoch(envelope))
            self.seen.setdefault(completed.request_id, time.time())
            self.changed.set()

    async def wait(self, done: Callable[[], bool], deadline: float) -> bool:
        while not done():
            self.check()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
        return True


# -- the phases ----------------------------------------------------------------------------


@dataclass
class Sample:
    filed_at: float  # FileRequest sent
    verified_at: float  # VerifyIdentity answered
    completed_at: float  # the event's occurred_at
    certificate_at: float  # GetCertificate answered, the request `completed`
    target_done_s: dict[str, float]  # target -> finished, seconds after the identity check


@dataclass
class LatencyPhase:
    samples: list[Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def latencies(self) -> list[float]:
        return sorted(s.completed_at - s.filed_at for s in self.samples)

    def observed(self) -> list[float]:
        return sorted(s.certificate_at - s.filed_at for s in self.samples)


@dataclass
class DrainPhase:
    n: int
    filed_sent: dict[int, float] = field(default_factory=dict)
    verify_sent: dict[int, float] = field(default_factory=dict)
    verified_at: dict[int, float] = field(default_factory=dict)
    request_ids: dict[int, str] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    completed: list[float] = field(default_factory=list)  # occurred_at, ascending
    cpu: dict[str, float | None] = field(default_factory=dict)
    cpu_wall_s: float = 0.0
    machine_busy: float | None = None
    timed_out: bool = False

    @property
    def filing_rate(self) -> float:
        if not self.verified_at:
            return 0.0
        return len(self.verified_at) / (
            max(self.verified_at.values()) - min(self.filed_sent.values())
        )

    @property
    def drain_rate(self) -> float:
        if not self.completed or not self.verify_sent:
            return 0.0
        return len(self.completed) / (self.completed[-1] - min(self.verify_sent.values()))

    @property
    def after_filing(self) -> tuple[int, float]:
        """Completions after the last VerifyIdentity answer, and their rate from then."""
        if not self.verified_at:
            return 0, 0.0
        end = max(self.verified_at.values())
        later = [t for t in self.completed if t > end]
        if not later or later[-1] <= end:
            return len(later), 0.0
        return len(later), len(later) / (later[-1] - end)


class Driver:
    def __init__(self, stack: Stack, deadline: float) -> None:
        self.stack = stack
        self.deadline = deadline

    def left(self) -> float:
        return max(1.0, self.deadline - time.monotonic())

    async def open(self) -> None:
        self.channels = {
            name: grpc.aio.insecure_channel(self.stack.grpc_addr(name))
            for name in ("membership", "notify", "erasure")
        }
        self.members = membership_pb2_grpc.MembershipServiceStub(self.channels["membership"])
        self.notify = notify_pb2_grpc.NotifyServiceStub(self.channels["notify"])
        self.requests = requests_pb2_grpc.PrivacyRequestsStub(self.channels["erasure"])
        self.completions = Completions(self.stack)
        await self.completions.start()
        self.messages = Messages(self.stack)
        await self.messages.start()

    async def close(self) -> None:
        await self.completions.stop()
        await self.messages.stop()
        for channel in self.channels.values():
            await channel.close()

    async def setup(self, count: int) -> tuple[Metadata, list[str]]:
        """`count` members with messages at SendGrid and Twilio; their ids."""
        metadata = bearer(
            await create_org(self.channels["membership"], self.stack.secrets["ADMIN_TOKEN"])
        )
        run_id = uuid.uuid4().hex[:8]
        requests = [register_request(run_id, i) for i in range(count)]
        print(f"registering {count} members ...", file=sys.stderr, flush=True)
        calls = await asyncio.wait_for(
            run_calls(
                self.members.RegisterMember, requests, REGISTER_CONCURRENCY, metadata, Calls()
            ),
            self.left(),
        )
        if calls.failures:
            raise SystemExit(f"sign-ups failed: {calls.failures}")
        member_ids = [calls.replies[i].member_id for i in range(count)]
        queued = 0
        for start in range(0, count, SMS_BATCH):
            sent = await self.notify.SendToMembers(
                notify_pb2.SendToMembersRequest(
                    member_ids=member_ids[start : start + SMS_BATCH],
                    purpose="membership",
                    legal_basis="contract",
                    channel="sms",
                    body="Hei {{ name }}! Årsmøtet er tirsdag kl. 19.",
                ),
                timeout=RPC_TIMEOUT_S,
                metadata=metadata,
            )
            queued += sent.queued
            if sent.not_queued:
                print(f"warning: SMS not queued: {dict(sent.not_queued)}", file=sys.stderr)
        wanted = {
            ("welcome", "email"): count,
            ("invoice-issued", "email"): count,
            ("org-message", "sms"): queued,
        }
        print(f"waiting for notify to send {wanted} ...", file=sys.stderr, flush=True)
        while any(self.messages.counts[kind] < n for kind, n in wanted.items()):
            self.messages.check()
            if time.monotonic() > self.deadline:
                raise SystemExit(f"set-up timed out: notify sent {dict(self.messages.counts)}")
            await asyncio.sleep(POLL_S)
        print(f"notify sent {dict(self.messages.counts)}", file=sys.stderr, flush=True)
        return metadata, member_ids

    async def file(self, member_id: str, metadata: Metadata) -> tuple[str, float, float, float]:
        """FileRequest + VerifyIdentity: (request id, filed sent, verify sent, verified)."""
        filed_at = time.time()
        filed = await self.requests.FileRequest(
            pb.FileRequestRequest(subject_id=member_id, type="erasure"),
            timeout=RPC_TIMEOUT_S,
            metadata=metadata,
        )
        verify_at = time.time()
        await self.requests.VerifyIdentity(
            pb.VerifyIdentityRequest(
                request_id=filed.request_id,
                method="admin-attestation",
                attestation="benchmark: identity checked by the org's admin",
            ),
            timeout=RPC_TIMEOUT_S,
            metadata=metadata,
        )
        return filed.request_id, filed_at, verify_at, time.time()

    async def latency(self, member_ids: list[str], metadata: Metadata) -> LatencyPhase:
        phase = LatencyPhase()
        for member_id in member_ids:
            request_id, filed_at, _, verified_at = await self.file(member_id, metadata)
            ok = await self.completions.wait(
                lambda r=request_id: r in self.completions.occurred, self.deadline
            )
            if not ok:
                phase.failures.append(f"{request_id}: no completion before the timeout")
                break
            ref = pb.RequestRef(request_id=request_id)
            request = await self.requests.GetRequest(ref, timeout=RPC_TIMEOUT_S, metadata=metadata)
            certificate = await self.requests.GetCertificate(
                ref, timeout=RPC_TIMEOUT_S, metadata=metadata
            )
            certificate_at = time.time()
            entries = [Entry(e.canonical_json, e.hash) for e in certificate.entries]
            problems = verify(entries, certificate.head_hash)
            if request.status != "completed" or problems:
                phase.failures.append(f"{request_id}: {request.status} {problems}")
                continue
            checked = request.identity_verified_at.ToNanoseconds() / 1e9
            done = {}
            for change in request.history:
                if change.status == "in_progress":  # planned: the tasks exist
                    done["(planned)"] = change.at.ToNanoseconds() / 1e9 - checked
            for entry in entries:
                body = json.loads(entry.canonical_json)
                if "target" in body and body.get("at"):
                    done[body["target"]] = datetime.fromisoformat(body["at"]).timestamp() - checked
            phase.samples.append(
                Sample(
                    filed_at,
                    verified_at,
                    self.completions.occurred[request_id],
                    certificate_at,
                    done,
                )
            )
        return phase

    async def drain(
        self, member_ids: list[str], metadata: Metadata, concurrency: int, pids: dict[str, int]
    ) -> DrainPhase:
        phase = DrainPhase(len(member_ids))
        cursor = iter(range(len(member_ids)))

        async def worker() -> None:
            for i in cursor:
                try:
                    request_id, filed_at, verify_at, verified_at = await self.file(
                        member_ids[i], metadata
                    )
                except grpc.aio.AioRpcError as exc:
                    phase.failures[exc.code().name] += 1
                    continue
                phase.filed_sent[i] = filed_at
                phase.verify_sent[i] = verify_at
                phase.verified_at[i] = verified_at
                phase.request_ids[i] = request_id

        cpu_before = procstat.snapshot(pids)
        machine_before = procstat.machine_jiffies()
        started = time.monotonic()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(worker() for _ in range(max(1, concurrency)))), self.left()
            )
        except TimeoutError:
            phase.timed_out = True
        wanted = set(phase.request_ids.values())
        occurred = self.completions.occurred
        if not await self.completions.wait(lambda: wanted <= occurred.keys(), self.deadline):
            phase.timed_out = True
        phase.cpu = procstat.used(cpu_before, procstat.snapshot(pids))
        phase.cpu_wall_s = time.monotonic() - started
        phase.machine_busy = procstat.machine_busy(machine_before, procstat.machine_jiffies())
        phase.completed = sorted(occurred[r] for r in wanted if r in occurred)
        return phase


# -- the report ----------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


def render(args: argparse.Namespace, latency: LatencyPhase, drain: DrainPhase) -> str:
    lat = latency.latencies()
    obs = latency.observed()
    p99 = percentile(lat, 99)
    lat_ok = len(latency.samples) == args.sample and not latency.failures and p99 < TARGET_P99_S
    later, later_rate = drain.after_filing
    complete = len(drain.completed) == drain.n and not drain.failures
    rate_ok = complete and drain.drain_rate >= TARGET_RATE
    first_verify = min(drain.verify_sent.values(), default=0.0)
    last_done = drain.completed[-1] - first_verify if drain.completed else float("nan")

    def spread(values: list[float]) -> str:
        p50, p99 = (1000 * percentile(values, q) for q in (50, 99))
        top = 1000 * max(values, default=float("nan"))
        return f"p50 {p50:.0f} ms  p99 {p99:.0f} ms  max {top:.0f} ms"

    rows = [
        (
            "latency samples",
            f"{len(latency.samples)} of {args.sample}, one at a time"
            + (f"; failures: {latency.failures[:3]}" if latency.failures else ""),
        ),
        (
            "request -> completed (event)",
            spread(lat),
        ),
        (
            "request -> certificate answered",
            spread(obs),
        ),
        (
            f"latency p99 < {TARGET_P99_S:g} s",
            verdict(lat_ok),
        ),
        (
            "drain erasures",
            f"{len(drain.verified_at)} filed and verified, "
            f"{len(drain.completed)} completed of {drain.n}"
            + (f"; failed calls {dict(drain.failures)}" if drain.failures else ""),
        ),
        (
            "filing rate",
            f"{drain.filing_rate:8.1f} requests/s  (FileRequest + VerifyIdentity, "
            f"{args.concurrency} in flight)",
        ),
        (
            "drain rate",
            f"{drain.drain_rate:8.1f} erasures/s  (first VerifyIdentity -> last completion, "
            f"{last_done:.2f} s)",
        ),
        (
            "after filing ended",
            f"{later_rate:8.1f} erasures/s  ({later} completions after the last verify answer)",
        ),
        (f"drain >= {TARGET_RATE:g} erasures/s", verdict(rate_ok)),
    ]
    if drain.timed_out:
        rows.append(("timeout", "the drain hit its time limit; see 'drain erasures'"))
    width = max(len(label) for label, _ in rows)
    lines = [
        f"Kontingent erasure benchmark: sample={args.sample}, N={args.n}, "
        f"concurrency={args.concurrency}, {os.cpu_count()} CPUs",
        "",
        *(f"  {label:<{width}}  {value}" for label, value in rows),
    ]
    if latency.samples:
        targets: dict[str, list[float]] = {}
        for s in latency.samples:
            for target, at in s.target_done_s.items():
                targets.setdefault(target, []).append(at)
        verify_ms = median(1000 * (s.verified_at - s.filed_at) for s in latency.samples)
        complete_ms = median(1000 * (s.completed_at - s.verified_at) for s in latency.samples)
        lines += [
            "",
            "Latency sample, medians: FileRequest sent -> VerifyIdentity answered "
            f"{verify_ms:.0f} ms; verify answered -> completed {complete_ms:.0f} ms; "
            "each target finished, after the identity check:",
            "  "
            + "  ".join(
                f"{t} {1000 * median(v):.0f} ms"
                for t, v in sorted(targets.items(), key=lambda kv: median(kv[1]))
            ),
        ]
    busy = "n/a" if drain.machine_busy is None else f"{100 * drain.machine_busy:.0f}%"
    lines += [
        "",
        f"CPU over the drain phase ({drain.cpu_wall_s:.2f} s wall, first FileRequest -> last "
        f"completion seen; whole machine busy {busy} of {os.cpu_count()} CPUs):",
        *procstat.cpu_rows(drain.cpu, drain.cpu_wall_s, len(drain.completed), "erasure"),
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.erasure",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--n", type=int, default=1000, help="erasures drained (default 1000)")
    parser.add_argument(
        "--sample", type=int, default=50, help="erasures timed one at a time (default 50)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help="FileRequest+VerifyIdentity pairs in flight while draining (default 32)",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds for the whole run (default 300)"
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep the stack's data directory (logs, SQLite)"
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="py-spy the erasure service during the drain (raw, GIL only) into FILE",
    )
    parser.add_argument(
        "--profile-seconds", type=int, default=20, help="py-spy duration (default 20)"
    )
    parser.add_argument("--serve-twilio", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.n < 2 or args.sample < 1 or args.concurrency < 1 or args.timeout <= 0:
        parser.error("--n must be >= 2, --sample >= 1, --concurrency >= 1, --timeout > 0")
    return args


async def run(
    stack: Stack, args: argparse.Namespace, pids: dict[str, int]
) -> tuple[LatencyPhase, DrainPhase]:
    driver = Driver(stack, time.monotonic() + args.timeout)
    await driver.open()
    try:
        metadata, member_ids = await driver.setup(args.sample + args.n)
        print(f"latency: {args.sample} erasures one at a time ...", file=sys.stderr, flush=True)
        latency = await driver.latency(member_ids[: args.sample], metadata)
        print(f"drain: {args.n} erasures ...", file=sys.stderr, flush=True)
        spy = None
        if args.profile:
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--nonblocking",
                    "--gil",
                    "-f",
                    "raw",
                    "-o",
                    args.profile,
                    "-d",
                    str(args.profile_seconds),
                    "-p",
                    str(pids["erasure"]),
                ],
                stdout=subprocess.DEVNULL,
            )
        drain = await driver.drain(member_ids[args.sample :], metadata, args.concurrency, pids)
        if spy is not None:
            await asyncio.to_thread(spy.wait)
    finally:
        await driver.close()
    return latency, drain


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_twilio:
        asyncio.run(_serve_twilio())
        return 0
    sendgrid, sendgrid_url = start_loopback(["-m", "tests.loopback.sendgrid"])
    twilio, twilio_url = start_loopback(["-m", "bench.erasure", "--serve-twilio"])
    try:
        with local_stack(args.keep_data, stack_env(sendgrid_url, twilio_url)) as stack:
            pids = {name: proc.pid for name, proc in stack.processes.items()}
            pids["sendgrid loopback"] = sendgrid.pid
            pids["twilio loopback"] = twilio.pid
            pids["bench (this process)"] = os.getpid()
            latency, drain = asyncio.run(run(stack, args, pids))
    finally:
        for proc in (sendgrid, twilio):
            proc.terminate()
            proc.wait(10)
    print(render(args, latency, drain))
    return 0


if __name__ == "__main__":
    sys.exit(main())
