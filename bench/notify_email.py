"""Notify email benchmark: welcome emails per second through the running notify service,
driven from events, beside the raw SendGrid SDK sending to the same server in the same run.

    python -m bench.notify_email --n 2000 --concurrency 16 --warmup 100

The server is the loopback SendGrid (tests/loopback/sendgrid.py, the v3 wire format) in a
process of its own; it notes when it accepts each message, and both phases are timed by those
arrivals, so they are measured alike. The stack (broker, localstripe, the four services, as
`kontingent dev up` runs them) starts on random ports with notify on EMAIL_MODE=sendgrid
against that server, SENDGRID_CONCURRENCY = --concurrency, and its own SendGrid rate limit
(SENDGRID_REQUESTS_PER_S, 100/s by default, the account's limit in production) lifted so that
it does not decide the figure; billing charges no fee (DEFAULT_FEE_ORE=0), so a sign-up sends
one email, the welcome. In this order:

- raw, before: the official SDK's SendGridAPIClient.send from `concurrency` threads, one Mail
  each (after a warm-up of --warmup sends);
- service: --warmup members registered through membership's gRPC RegisterMember with notify
  running, waited out until their welcomes are recorded. Then notify is paused (SIGSTOP), N
  members are registered, and the benchmark waits until their N member-registered events are
  in Kafka (read back from the topic) and billing has consumed them (its consumer metric), so
  that nothing else runs beside notify. Notify is resumed (SIGCONT) and the N welcome emails
  are timed as the server receives them. Through the notify process this is everything a
  welcome takes: consume the event, fetch the contact details from membership (GetContacts)
  and the member's key from the keyring, render, seal, queue the message row with its inbox
  entry, claim, unseal, check suppression, send through the SendGrid adapter (the same SDK),
  record SENT and relay notify.message-recorded.v1. The CPU of every process (the server's and
  this one's included) is taken from SIGCONT until the N message-recorded events are in Kafka;
- raw, after: as before, to see how much the raw rate moved during the run. Each raw phase
  also prints this process's CPU per email: what the SDK alone costs.

Rates are taken at the server. Raw: from its first arrival to its last. Service (the
headline): from SIGCONT to the last arrival, so the first batch's way through the pipeline
counts; when the first welcome took longer than a consumer group rejoin would (the broker
answers a join after half the session timeout, which a pause longer than the timeout calls
for), from the first arrival instead, and the output says so. Both service rates are printed.
Not measured: membership's sign-ups and its relay (done before SIGCONT), any other kind of
message, the SDK's or server's cost on a real network, and SendGrid's own rate limits.

Target: the service reaches >= 80% of the raw rate (the mean of the two raw phases). A
benchmark measures: it exits 0 whether or not the target is met, and says which.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import grpc
from membership.v1 import membership_pb2_grpc
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, Mail

from bench import procstat
from bench.common import Calls, bearer, create_org, local_stack, register_request, run_calls
from bench.loopback_providers import SENDGRID, UNLIMITED, loopback_server, sendgrid_settings
from bench.notify_email_report import (
    RawPhase,
    ServicePhase,
    figures,
    rate,
    render,
)
from bench.report import publish
from bench.topic_reader import Subjects
from kontingent_cli.devstack import Stack
from services.common.topics import MEMBER_REGISTERED, MESSAGE_RECORDED
from tests.loopback.sendgrid import API_KEY

REGISTER_CONCURRENCY = 64  # RegisterMember calls in flight while the events are queued
POLL_S = 0.1
SUBJECT = "Kvittering for kontingent"
TEXT = "Hei!\n\nVi har mottatt betalingen din på 500 kr. Takk!\n\nHilsen Benk og Bane IL\n"
HTML = "<p>Hei!</p><p>Vi har mottatt betalingen din på 500 kr. Takk!</p><p>Benk og Bane IL</p>"


class Arrivals:
    """What the loopback server accepted, by recipient and arrival time (epoch seconds),
    fetched as it goes from its GET /_loopback/sent."""

    def __init__(self, base_url: str) -> None:
        self.url = f"{base_url}/_loopback/sent"
        self.seen: list[tuple[str, float]] = []

    def fetch(self) -> None:
        with urllib.request.urlopen(f"{self.url}?since={len(self.seen)}", timeout=10) as page:
            body = json.load(page)
        self.seen += [(sent["to"][0], sent["at"]) for sent in body["sent"]]

    def times(self, marker: str) -> list[float]:
        """Arrival times of the messages whose recipient contains `marker`, in order."""
        return sorted(at for to, at in self.seen if marker in to)


def raw_phase(base_url: str, arrivals: Arrivals, n: int, concurrency: int) -> RawPhase:
    client = SendGridAPIClient(API_KEY, host=base_url)
    client.client.timeout = 10.0
    tag = f"raw-{uuid.uuid4().hex[:8]}-"

    def send(i: int) -> None:
        mail = Mail(
            from_email="no-reply@kontingent.local",
            to_emails=f"{tag}{i}@example.no",
            subject=SUBJECT,
            plain_text_content=TEXT,
            html_content=HTML,
        )
        mail.custom_arg = CustomArg("message_id", str(uuid.uuid4()))
        response = client.send(mail)
        assert response.status_code == 202

    with ThreadPoolExecutor(concurrency) as pool:
        cpu = procstat.cpu_seconds(os.getpid()) or 0.0
        started = time.perf_counter()
        list(pool.map(send, range(n)))
        elapsed = time.perf_counter() - started
        cpu = (procstat.cpu_seconds(os.getpid()) or 0.0) - cpu
    arrivals.fetch()
    times = arrivals.times(tag)
    return RawPhase(n / elapsed, rate(times), len(times), 1000 * cpu / n)


class ServiceDriver:
    def __init__(
        self, stack: Stack, arrivals: Arrivals, deadline: float, pids: dict[str, int]
    ) -> None:
        self.stack = stack
        self.arrivals = arrivals
        self.deadline = deadline
        self.pids = pids  # whose CPU is measured

    async def open(self) -> None:
        self.channel = grpc.aio.insecure_channel(self.stack.grpc_addr("membership"))
        self.stub = membership_pb2_grpc.MembershipServiceStub(self.channel)

    def left(self) -> float:
        return max(1.0, self.deadline - time.monotonic())

    async def register(self, metadata: tuple, count: int, calls: Calls) -> str:
        """`count` sign-ups; returns the marker in their email addresses."""
        run_id = uuid.uuid4().hex[:8]
        requests = [register_request(run_id, i) for i in range(count)]
        await asyncio.wait_for(
            run_calls(self.stub.RegisterMember, requests, REGISTER_CONCURRENCY, metadata, calls),
            self.left(),
        )
        return f"bench-{run_id}-"

    async def wait_until(self, done: Callable[[], Awaitable[bool]]) -> bool:
        while not await done():
            if time.monotonic() > self.deadline:
                return False
            await asyncio.sleep(POLL_S)
        return True

    async def run(self, n: int, warmup: int) -> ServicePhase:
        phase = ServicePhase(n)
        await self.open()
        registered = Subjects(self.stack.broker, MEMBER_REGISTERED.name)
        recorded = Subjects(self.stack.broker, MESSAGE_RECORDED.name)
        await registered.start()
        await recorded.start()
        notify = self.stack.processes["notify"]
        try:
            metadata = bearer(await create_org(self.channel, self.stack.secrets["ADMIN_TOKEN"]))

            # Warm-up with notify running: channels, caches, group joins; not counted.
            warm = Calls()
            if warmup:
                await self.register(metadata, warmup, warm)

                async def warmed() -> bool:
                    return len(recorded) >= len(warm.replies)

                if not await self.wait_until(warmed):
                    print("warning: the warm-up welcomes were not all recorded", file=sys.stderr)
            recorded_before = len(recorded)

            print(f"pausing notify (pid {notify.pid}) ...", file=sys.stderr, flush=True)
            paused = time.monotonic()
            notify.send_signal(signal.SIGSTOP)
            marker = await self.register(metadata, n, phase.registered)
            answered = time.monotonic()
            accepted = len(phase.registered.replies)
            expected = len(warm.replies) + accepted

            async def queued() -> bool:
                return len(registered) >= expected

            if not await self.wait_until(queued):
                phase.timed_out = True
            phase.relay_wait_s = time.monotonic() - answered

            # Billing consumes the same events (no fee: no invoice); let it finish first, so
            # that the service phase has the machine to itself.
            async def billed() -> bool:
                done = await asyncio.to_thread(
                    self.stack.metric,
                    "billing",
                    "billing_consumer_messages_total",
                    {"consumer": "billing.member-registered"},
                )
                return done >= expected

            if not await self.wait_until(billed):
                phase.timed_out = True
            phase.billing_wait_s = time.monotonic() - answered

            async def finished() -> bool:
                await asyncio.to_thread(self.arrivals.fetch)
                phase.times = self.arrivals.times(marker)
                if phase.recorded_s is None and len(recorded) >= recorded_before + accepted:
                    phase.recorded_s = time.time() - phase.resumed_at
                return phase.recorded_s is not None and len(phase.times) >= accepted

            phase.load_before = procstat.load_average()
            cpu_before = procstat.snapshot(self.pids)
            machine_before = procstat.machine_jiffies()
            started = time.monotonic()
            phase.resumed_at = time.time()
            notify.send_signal(signal.SIGCONT)
            phase.paused_s = time.monotonic() - paused
            print(f"resumed notify (pid {notify.pid})", file=sys.stderr, flush=True)
            if not await self.wait_until(finished):
                phase.timed_out = True
            phase.cpu = procstat.used(cpu_before, procstat.snapshot(self.pids))
            phase.cpu_wall_s = time.monotonic() - started
            phase.machine_busy = procstat.machine_busy(machine_before, procstat.machine_jiffies())
        except TimeoutError:  # sign-ups cut short: report what there is
            phase.timed_out = True
        finally:
            notify.send_signal(signal.SIGCONT)  # never leave it paused
            await registered.stop()
            await recorded.stop()
            await self.channel.close()
        return phase


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.notify_email",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--n", type=int, default=2000, help="emails per phase (default 2000)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="SDK threads, raw and in notify's SendGrid adapter (default 16)",
    )
    parser.add_argument(
        "--warmup", type=int, default=100, help="warm-up emails per phase (default 100)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds for the service phase (default 300)"
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep the stack's data directory (logs, SQLite)"
    )
    args = parser.parse_args(argv)
    if args.n < 2 or args.concurrency < 1 or args.warmup < 0 or args.timeout <= 0:
        parser.error("--n must be >= 2, --concurrency >= 1, --warmup >= 0, --timeout > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = {
        "billing": {"DEFAULT_FEE_ORE": "0"},  # no invoice, so the welcome is the only email
    }
    with loopback_server(SENDGRID) as (server_pid, base_url):
        env["notify"] = {
            "EMAIL_MODE": "sendgrid",
            **sendgrid_settings(base_url),
            "SENDGRID_CONCURRENCY": str(args.concurrency),
            "SENDGRID_REQUESTS_PER_S": UNLIMITED,
        }
        arrivals = Arrivals(base_url)
        with local_stack(args.keep_data, env) as stack:
            print("running: raw, service, raw ...", file=sys.stderr, flush=True)
            if args.warmup:
                raw_phase(base_url, arrivals, args.warmup, args.concurrency)
            before = raw_phase(base_url, arrivals, args.n, args.concurrency)
            pids = {name: proc.pid for name, proc in stack.processes.items()}
            pids["sendgrid loopback"] = server_pid
            pids["bench (this process)"] = os.getpid()
            driver = ServiceDriver(stack, arrivals, time.monotonic() + args.timeout, pids)
            service = asyncio.run(
                asyncio.wait_for(driver.run(args.n, args.warmup), args.timeout + 60)
            )
            after = raw_phase(base_url, arrivals, args.n, args.concurrency)
    print(render(args, before, service, after))
    publish(figures(args, before, service, after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
