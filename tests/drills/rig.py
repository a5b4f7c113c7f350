"""The drill rig: the whole local stack with its outside world under the drill's control.

Notify sends through the SendGrid and Twilio stand-ins and billing calls localstripe, each
through a FaultProxy the drill can break; localstripe's webhooks reach billing through one
more, which can hold them for redelivery. The stand-ins, the proxies and the load run on one
event loop in a thread of the test process, so the test itself stays free to kill, pause and
restart processes while the load runs."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from billing.v1 import billing_pb2, billing_pb2_grpc

from bench.loopback_providers import stack_env
from kontingent_cli.devstack import Stack, StackConfig
from tests.drills.books import settled_books
from tests.drills.fault_proxy import FaultProxy
from tests.drills.traffic import Load, Traffic
from tests.e2e.helpers import create_org
from tests.loopback.sendgrid import SendGridLoopback
from tests.loopback.twilio import TwilioLoopback

T = TypeVar("T")
FEE_ORE = 35_000


class LoopThread:
    """An asyncio loop in a daemon thread; coroutines are handed to it from the test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        return self.submit(coro).result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@dataclass
class RunningLoad:
    traffic: Traffic  # filled in as the load goes
    future: Future[Traffic]

    def done(self) -> bool:
        return self.future.done()

    def result(self, timeout: float) -> Traffic:
        return self.future.result(timeout)


class Rig:
    def __init__(self, data_dir: Path, database_urls: dict[str, str] | None = None) -> None:
        self.loop = LoopThread()
        self.sendgrid = SendGridLoopback()
        self.twilio = TwilioLoopback()
        self.loop.run(self.sendgrid.start())
        self.loop.run(self.twilio.start())
        self.email = FaultProxy(self.sendgrid.base_url)
        self.sms = FaultProxy(self.twilio.base_url)
        self.stripe = FaultProxy("")  # localstripe's port is the stack's: set below
        # billing's port likewise; it delivers and signs as Stripe does (localstripe never
        # redelivers).
        self.webhooks = FaultProxy("", redelivering=True)
        for proxy in (self.email, self.sms, self.stripe, self.webhooks):
            self.loop.run(proxy.start())
        self.stack = Stack(
            StackConfig(
                data_dir=data_dir,
                random_ports=True,
                log_level="info",
                database_urls=database_urls or {},
                service_env=self._service_env(),
            )
        )
        self.stripe.upstream = self.stack.stripe_url
        self.webhooks.upstream = self.stack.http_url("billing")
        self.webhooks.signing_secret = self.stack.secrets["STRIPE_WEBHOOK_SECRETS"]

    @property
    def providers(self) -> tuple[FaultProxy, ...]:
        return (self.stripe, self.email, self.sms)

    def _service_env(self) -> dict[str, dict[str, str]]:
        env = stack_env(self.email.base_url, self.sms.base_url)
        # Stripe's live-mode rate limit (the default, 20/s, is test mode's, with room).
        env["billing"] = {"STRIPE_API_BASE": self.stripe.base_url, "STRIPE_REQUESTS_PER_S": "100"}
        return env

    def start(self) -> None:
        self.stack.start()
        # As the Stripe dashboard would: the webhook endpoint is the proxy before billing.
        request = urllib.request.Request(
            f"{self.stack.stripe_url}/_config/webhooks/kontingent",
            data=json.dumps(
                {
                    "url": f"{self.webhooks.base_url}/stripe/webhook",
                    "secret": self.stack.secrets["STRIPE_WEBHOOK_SECRETS"],
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5):
            pass

    def stop(self) -> None:
        try:
            self.stack.stop()
        finally:
            for server in (self.email, self.sms, self.stripe, self.webhooks):
                self.loop.run(server.stop())
            self.loop.run(self.sendgrid.stop())
            self.loop.run(self.twilio.stop())
            self.loop.close()

    def org(self, name: str, org_number: str) -> str:
        """A new org with a fee plan; its API key."""
        org = create_org(self.stack, name, org_number)
        with grpc.insecure_channel(self.stack.grpc_addr("billing")) as channel:
            billing_pb2_grpc.BillingServiceStub(channel).SetFeePlan(
                billing_pb2.SetFeePlanRequest(amount_ore=FEE_ORE),
                metadata=(("authorization", f"Bearer {org['api_key']}"),),
                timeout=10,
            )
        return org["api_key"]

    def start_load(self, api_key: str, n: int, concurrency: int = 32) -> RunningLoad:
        """Sign-ups and payments for the org, running until every member has paid."""
        load = Load(
            self.stack.grpc_addr("membership"),
            self.stack.grpc_addr("billing"),
            self.stack.stripe_url,
            api_key,
            run_id=uuid.uuid4().hex[:8],
        )
        return RunningLoad(load.traffic, self.loop.submit(load.run(n, concurrency)))

    def problems(self, api_key: str, traffic: Traffic, timeout_s: float = 180.0) -> list[str]:
        """What is wrong with the org's books once settled (no dead letters expected)."""
        books = settled_books(self.stack, api_key, self.sendgrid, traffic, timeout_s)
        return books.problems(traffic, Counter())

    def restart(self, service: str, timeout_s: float = 60.0) -> None:
        """Start a service again (after it was killed) and wait until it serves."""
        self.stack.start_service(service)
        self.stack.wait_serving(service, time.monotonic() + timeout_s)


@contextmanager
def running_rig(data_dir: Path, database_urls: dict[str, str] | None = None) -> Iterator[Rig]:
    rig = Rig(data_dir, database_urls)
    try:
        rig.start()
        yield rig
    finally:
        rig.stop()
