"""Shared parts of the Stripe tests (no tests here): localstripe on a free port, behind a
front that keeps Stripe's idempotency keys (localstripe ignores them), a billing database, a
loopback stand-in for membership's InternalDirectory, the production webhook route served on
a real aiohttp server, and signing with the Stripe SDK's own helper."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
import grpc
import pytest
import stripe
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from membership.v1 import membership_pb2, membership_pb2_grpc
from prometheus_client import REGISTRY, CollectorRegistry
from sqlalchemy import func, select

from kontingent_cli.devstack import free_port
from services.billing.adapters.orm import credit_notes, invoices, ledger_entries, stripe_events
from services.billing.adapters.stripe_gateway import PaymentIntentsGateway, StripeConfig
from services.billing.entrypoints.webhook import PATH, StripeWebhook, add_webhook_route
from services.billing.service_layer.invoicing import DefaultFee, InvoiceRequest, Invoicing
from services.billing.service_layer.payments import Payments
from services.billing.service_layer.stripe_customers import MembershipContacts
from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.db.tables import outbox
from services.common.envelope import EventContext
from services.common.grpc.auth import current_tenant
from services.common.grpc.client import ServiceClient
from services.common.metrics import ServiceMetrics
from tests.integration.conftest import SERVICES_DIR

SECRET, OLD_SECRET = "whsec_current_test", "whsec_previous_test"
FEE = 50_000
CONTACTS = {"member-1": ("Kari Nordmann", "kari@example.no"), "member-2": ("Ola", "ola@x.no")}


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    port = free_port()
    binary = Path(sys.executable).parent / "localstripe"
    proc = subprocess.Popen(
        [str(binary), "--from-scratch", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@dataclass
class StripeFront:
    """localstripe answering as Stripe does: the first answer to an Idempotency-Key is replayed
    to every later request with that key (Stripe keeps keys 24 h), concurrent requests with
    one key wait for the first. A request can be held at the front, to provoke a race."""

    upstream: str
    http: ClientSession
    answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    key_locks: defaultdict[str, asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )
    holds: dict[str, tuple[asyncio.Event, asyncio.Event]] = field(default_factory=dict)
    amended: dict[str, dict[str, Any]] = field(default_factory=dict)
    url: str = ""

    def amend(self, method: str, path: str, **fields: Any) -> None:
        """Answers to such requests carry these fields: what Stripe answers where localstripe
        cannot (a refund `pending`, as Stripe reports it for some payment methods)."""
        self.amended[f"{method} {path}"] = fields

    def hold(self, method: str, path: str) -> tuple[asyncio.Event, asyncio.Event]:
        """(arrived, release): the next such request waits at the front until released."""
        arrived, release = asyncio.Event(), asyncio.Event()
        self.holds[f"{method} {path}"] = (arrived, release)
        return arrived, release

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        held = self.holds.pop(f"{request.method} {request.path}", None)
        if held is not None:
            held[0].set()
            await held[1].wait()
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        if key is None:
            status, payload = await self._forward(request, body)
            return web.Response(status=status, body=payload, content_type="application/json")
        async with self.key_locks[key]:
            replayed = key in self.answers
            if not replayed:
                status, payload = await self._forward(request, body)
                fields = self.amended.get(f"{request.method} {request.path}")
                if fields and status == 200:
                    payload = json.dumps({**json.loads(payload), **fields}).encode()
                self.answers[key] = status, payload
        status, payload = self.answers[key]
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return web.Response(
            status=status, body=payload, content_type="application/json", headers=headers
        )

    async def _forward(self, request: web.Request, body: bytes) -> tuple[int, bytes]:
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "content-type", "stripe-version")
        }
        async with self.http.request(
            request.method, f"{self.upstream}{request.path_qs}", data=body, headers=headers
        ) as answer:
            return answer.status, await answer.read()


@pytest.fixture
async def stripe_front(localstripe: str) -> AsyncIterator[StripeFront]:
    """One per test: idempotency keys repeat across tests (each has a fresh database)."""
    async with ClientSession() as http:
        front = StripeFront(localstripe, http)
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", front.handle)
        server = TestServer(app)
        await server.start_server()
        front.url = str(server.make_url("")).rstrip("/")
        yield front
        await server.close()


@pytest.fixture
async def billing_db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, tenant=current_tenant)
    await upgrade_to_head(database, SERVICES_DIR / "billing" / "migrations")
    yield database
    await database.close()


class _Directory(membership_pb2_grpc.InternalDirectoryServicer):
    """Membership's GetContact, for the members in CONTACTS."""

    async def GetContact(
        self, request: membership_pb2.GetContactRequest, context: grpc.aio.ServicerContext
    ) -> membership_pb2.Contact:
        if request.member_id not in CONTACTS:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such member")
        name, email = CONTACTS[request.member_id]
        return membership_pb2.Contact(
            member_id=request.member_id, org_id=request.org_id, name=name, email=email
        )


@pytest.fixture
async def membership() -> AsyncIterator[ServiceClient]:
    server = grpc.aio.server()
    membership_pb2_grpc.add_InternalDirectoryServicer_to_server(_Directory(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = ServiceClient("membership", f"127.0.0.1:{port}", "token", deadline_s=5.0)
    yield client
    await client.close()
    await server.stop(None)


@pytest.fixture
async def stripe_client(localstripe: str) -> AsyncIterator[stripe.StripeClient]:
    """The test's own view of Stripe, as a payer's browser or Stripe's dashboard would act."""
    http = stripe.AIOHTTPClient()
    yield stripe.StripeClient(
        "sk_test_local", base_addresses={"api": localstripe}, http_client=http
    )
    await http.close_async()


@pytest.fixture
async def gateway(stripe_front: StripeFront) -> AsyncIterator[PaymentIntentsGateway]:
    started = PaymentIntentsGateway(
        StripeConfig(api_key="sk_test_local", api_base=stripe_front.url)
    )
    yield started
    await started.close()


@pytest.fixture
async def stripe_down(billing_db: Database, membership: ServiceClient) -> AsyncIterator[Payments]:
    """Payments whose Stripe cannot be reached (nothing listens on its port)."""
    unreachable = PaymentIntentsGateway(
        StripeConfig(
            api_key="sk_test_local",
            api_base=f"http://127.0.0.1:{free_port()}",
            max_network_retries=0,
            deadline_s=5.0,
        )
    )
    yield Payments(billing_db, unreachable, MembershipContacts(membership))
    await unreachable.close()


@pytest.fixture
def payments(
    billing_db: Database, gateway: PaymentIntentsGateway, membership: ServiceClient
) -> Payments:
    return Payments(billing_db, gateway, MembershipContacts(membership), events_interval_s=0.1)


@dataclass
class Hook:
    client: TestClient
    last_headers: dict[str, str] = field(default_factory=dict)  # the last answer's

    async def post(
        self,
        event: dict[str, Any] | bytes,
        *,
        secret: str = SECRET,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        header = signature or stripe.WebhookSignature.generate_signature_header(
            body.decode(), secret, timestamp
        )
        response = await self.client.post(
            PATH,
            data=body,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )
        self.last_headers = dict(response.headers)
        return response.status, await response.json()


@contextlib.asynccontextmanager
async def serving_webhook(
    database: Database, on_stored: Callable[[], None] = lambda: None
) -> AsyncIterator[Hook]:
    """The production route on faust's web app, served by a real aiohttp server."""
    app = faust.App(
        f"test-billing-{uuid.uuid4().hex[:8]}",
        broker="kafka://127.0.0.1:1",
        autodiscover=False,
        web_enabled=True,
    )
    webhook = StripeWebhook(database, [SECRET, OLD_SECRET], on_stored=on_stored)
    add_webhook_route(app, ServiceMetrics("test", registry=CollectorRegistry()), webhook)
    async with TestClient(TestServer(app.web.web_app)) as client:
        yield Hook(client)


@pytest.fixture
async def hook(billing_db: Database, payments: Payments) -> AsyncIterator[Hook]:
    async with serving_webhook(billing_db, payments.wake) as served:
        yield served


async def issue_invoice(db: Database, org_id: str = "org-a", member_id: str = "member-1") -> str:
    invoicing = Invoicing(DefaultFee(FEE, "NOK", 14))
    async with db.transaction() as session:
        invoice_id = await invoicing.issue(
            session,
            InvoiceRequest(org_id, member_id, "", "signup", str(uuid.uuid4())),
            EventContext(),
        )
    assert invoice_id is not None
    return invoice_id


def event(event_type: str, obj: dict[str, Any], created: int | None = None) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": event_type,
        "created": created or int(time.time()),
        "data": {"object": obj},
    }


def intent(pi_id: str, invoice_id: str, org_id: str = "org-a", **extra: Any) -> dict[str, Any]:
    return {
        "id": pi_id,
        "object": "payment_intent",
        "amount": FEE,
        "amount_received": FEE,
        "currency": "nok",
        "status": "succeeded",
        "metadata": {"invoice_id": invoice_id, "org_id": org_id},
        **extra,
    }


async def invoice_row(db: Database, invoice_id: str) -> Any:
    async with db.sessions() as session:
        return (await session.execute(select(invoices).where(invoices.c.id == invoice_id))).one()


async def ledger_of(db: Database, invoice_id: str) -> list[tuple[str, int, str]]:
    async with db.sessions() as session:
        rows = await session.execute(
            select(ledger_entries.c.kind, ledger_entries.c.amount_ore, ledger_entries.c.source_ref)
            .where(ledger_entries.c.invoice_id == invoice_id)
            .order_by(ledger_entries.c.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def outbox_topics(db: Database) -> list[str]:
    async with db.sessions() as session:
        rows = await session.execute(select(outbox.c.topic).order_by(outbox.c.seq))
        return [r.topic for r in rows if not r.topic.startswith("billing.invoice-issued")]


async def count(db: Database, table: Any) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def stored_events(db: Database) -> list[Any]:
    async with db.sessions() as session:
        return list((await session.execute(select(stripe_events))).all())


async def credit_note_count(db: Database) -> int:
    return await count(db, credit_notes)


def events_counted(event_type: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "billing_stripe_events_total", {"type": event_type, "outcome": outcome}
        )
        or 0.0
    )
