"""Shared parts of the erasure pipeline tests (no tests here): the erasure service's database
and keyring, the three stores as real gRPC servers (the common DataSubjectStore servicer over
recording stand-ins, behind the real interceptor and internal token), membership's GetContact,
the loopback SendGrid and Twilio servers driven by the official SDKs, and the pipeline wired
as bootstrap wires it: request use cases, the outbox relay to the real broker, the planner as
an idempotent consumer, the runner."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from membership.v1 import membership_pb2, membership_pb2_grpc
from privacy.v1 import confirmation_pb2, confirmation_pb2_grpc
from prometheus_client import CollectorRegistry
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Mail
from twilio.rest import Client

from kontingent_cli.devstack import free_port
from services.common.consumer import EventConsumer
from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.grpc.auth import (
    SCOPE_INTERNAL,
    SCOPE_PRIVACY,
    Authenticator,
    Principal,
    current_tenant,
    data_subject_policy,
)
from services.common.grpc.client import ServiceClient
from services.common.grpc.data_subject import ErasureOutcome, Kept, Removed, add_data_subject_store
from services.common.grpc.interceptor import ServiceInterceptor
from services.common.grpc.server import GrpcServer
from services.common.kafka import Publisher
from services.common.metrics import ServiceMetrics
from services.common.outbox import OutboxRelay
from services.common.topics import ERASURE_REQUESTED, provision
from services.erasure.adapters.key_store import KeyStore
from services.erasure.adapters.membership_contacts import MembershipContacts
from services.erasure.adapters.targets.sendgrid_recipient import (
    SendGridConfig,
    SendGridRecipientTarget,
)
from services.erasure.adapters.targets.twilio_messages import TwilioConfig, TwilioMessagesTarget
from services.erasure.registry import erasure_targets
from services.erasure.service_layer.erasure_runner import ErasureRunner
from services.erasure.service_layer.key_shredding import KeyShredding
from services.erasure.service_layer.keyring import Keyring
from services.erasure.service_layer.planning import ErasurePlanner
from services.erasure.service_layer.requests import PrivacyRequests, RequestView
from tests.integration.conftest import SERVICES_DIR, TopicReader
from tests.loopback import sendgrid as sendgrid_loopback
from tests.loopback import twilio as twilio_loopback

TOKEN = "internal-token-for-tests"
KEK = os.urandom(32)
LEDGER_KEY = os.urandom(32)
ORG, OTHER_ORG = "org-a", "org-b"
EMAIL = "kari.nordmann@example.no"
ADMIN = Principal(kind="org", org_id=ORG, scopes=frozenset({SCOPE_PRIVACY}), key_id="key-1")
STORES = ("membership", "billing", "notify")


@dataclass
class RecordingStore:
    """A store's erase: counts its calls and notes whether the member's key was still live."""

    name: str
    outcome: ErasureOutcome
    keyring: Keyring
    calls: list[tuple[str, bool]] = field(default_factory=list)  # (subject, key live then)

    async def export(self, org_id: str, subject_id: str) -> dict[str, Any]:
        return {}

    async def erase(self, org_id: str, subject_id: str) -> ErasureOutcome:
        state = await self.keyring.state(subject_id)
        self.calls.append((subject_id, state is not None and state.shredded_at is None))
        return self.outcome


class Directory(membership_pb2_grpc.InternalDirectoryServicer):
    async def GetContact(
        self, request: membership_pb2.GetContactRequest, context: grpc.aio.ServicerContext
    ) -> membership_pb2.Contact:
        return membership_pb2.Contact(
            member_id=request.member_id, org_id=request.org_id, email=EMAIL
        )


@dataclass
class Confirmations(confirmation_pb2_grpc.ErasureConfirmationsServicer):
    """Notify's erasure-confirmed email: pending for the first `pending` calls, then sent;
    notes whether membership had already been erased at each call."""

    membership: RecordingStore
    pending: int = 0
    calls: list[bool] = field(default_factory=list)  # (membership erased by then)

    async def ConfirmErasure(
        self, request: confirmation_pb2.ConfirmErasureRequest, context: grpc.aio.ServicerContext
    ) -> confirmation_pb2.ErasureConfirmation:
        self.calls.append(bool(self.membership.calls))
        state = "pending" if len(self.calls) <= self.pending else "sent"
        return confirmation_pb2.ErasureConfirmation(state=state, channel="email")


@dataclass
class Pipeline:
    db: Database
    keyring: Keyring
    requests: PrivacyRequests
    runner: ErasureRunner
    stores: dict[str, RecordingStore]
    twilio: twilio_loopback.TwilioLoopback
    sendgrid: sendgrid_loopback.SendGridLoopback
    sms_sid: str
    relay: OutboxRelay
    consumer: EventConsumer
    read_topic: TopicReader
    restart: Callable[[], Any]
    clients: dict[str, ServiceClient] = field(default_factory=dict)  # the stores', over gRPC
    confirmations: Confirmations | None = None  # notify's, over gRPC

    async def member(self) -> str:
        member_id = str(uuid.uuid4())
        await self.keyring.get_or_create(member_id, ORG)
        return member_id

    async def file_and_verify(self, member_id: str) -> RequestView:
        """Filed and verified by the org's admin; the event relayed to the broker and
        consumed back, so the plan exists."""
        filed = await self.requests.file(ADMIN, member_id, "erasure")
        await self.requests.verify_identity(
            ADMIN, filed.request.id, "admin-attestation", "saw the member's ID card"
        )
        await self.relay.publish_batch()
        records = await self.read_topic(ERASURE_REQUESTED.name)
        mine = [r for r in records if (r.key or b"").decode() == member_id]
        assert len(mine) == 1
        for record in mine * 2:  # redelivered: the inbox makes the second one a duplicate
            await self.consumer.process(record.value, record.key, attempt=0)
        return await self.requests.get(ORG, filed.request.id)

    async def drive(self, request_id: str, until: Callable[[RequestView], bool]) -> RequestView:
        for _ in range(400):
            await self.runner.run_once()
            view = await self.requests.get(ORG, request_id)
            if until(view):
                return view
            await asyncio.sleep(0.01)
        raise AssertionError(f"request {request_id} never got there: {view.request.status}")


def task(view: RequestView, target: str) -> Any:
    return next(t for t in view.tasks if t.target == target)


def _runner(db: Database, keyring: Keyring, stores: dict[str, ServiceClient], sg, tw) -> Any:  # type: ignore[no-untyped-def]
    registry = erasure_targets(stores, sg, tw, KeyShredding(keyring), db)
    runner = ErasureRunner(
        db,
        registry,
        keyring,
        backoff_base_s=0.01,
        backoff_cap_s=0.05,
        confirm_poll_base_s=0.01,
        deadline_s=5.0,
    )
    return registry, runner


@pytest.fixture
async def pipeline(
    database_url: str, broker: str, publisher: Publisher, read_topic: TopicReader
) -> AsyncIterator[Pipeline]:
    provision(broker, (ERASURE_REQUESTED,))
    db = Database(database_url, tenant=current_tenant)
    await upgrade_to_head(db, SERVICES_DIR / "erasure" / "migrations")
    keyring = Keyring(KeyStore(db), KEK, LEDGER_KEY)
    metrics = ServiceMetrics("test", registry=CollectorRegistry())
    twilio = twilio_loopback.TwilioLoopback()
    sendgrid = sendgrid_loopback.SendGridLoopback()
    await twilio.start()
    await sendgrid.start()
    # A text notify sent the member through Twilio, so that it has a SID to delete.
    sender = Client(twilio.account_sid, twilio.auth_token)
    sender.api.base_url = twilio.base_url
    sms = await asyncio.to_thread(
        sender.messages.create, to="+4791234567", from_="+4759440000", body="Kvittering"
    )
    # And an email through SendGrid to the address membership holds now.
    email_id = await asyncio.to_thread(send_email, sendgrid, EMAIL)
    outcomes = {
        "membership": ErasureOutcome(removed=[Removed("contact", "name, email, phone")]),
        "billing": ErasureOutcome(
            removed=[Removed("payment-provider-customer", "the Stripe customer")],
            kept=[
                Kept("payment-records", "invoices", "bokføringsloven § 13", "2031-12-31", 2, True)
            ],
        ),
        "notify": ErasureOutcome(
            removed=[Removed("message-log", "messages", 2)],
            provider_records={"sendgrid": [email_id], "twilio": [sms.sid]},
        ),
    }
    stores = {name: RecordingStore(name, outcomes[name], keyring) for name in STORES}
    confirmations = Confirmations(stores["membership"])
    servers: list[GrpcServer] = []
    clients: dict[str, ServiceClient] = {}
    for name in STORES:
        address = f"127.0.0.1:{free_port()}"

        def add(server: grpc.aio.Server, name: str = name) -> None:
            add_data_subject_store(server, name, stores[name])
            if name == "membership":
                membership_pb2_grpc.add_InternalDirectoryServicer_to_server(Directory(), server)
            if name == "notify":
                confirmation_pb2_grpc.add_ErasureConfirmationsServicer_to_server(
                    confirmations, server
                )

        policy = {
            **data_subject_policy(),
            "/membership.v1.InternalDirectory/GetContact": frozenset({SCOPE_INTERNAL}),
            "/privacy.v1.ErasureConfirmations/ConfirmErasure": frozenset({SCOPE_INTERNAL}),
        }
        interceptor = ServiceInterceptor(Authenticator(TOKEN, _no_keys), policy, metrics)
        server = GrpcServer(address, add, [], interceptor)
        await server.start()
        servers.append(server)
        clients[name] = ServiceClient(name, address, TOKEN, deadline_s=5.0)
    sg = SendGridRecipientTarget(SendGridConfig(sendgrid.api_key, sendgrid.base_url))
    tw = TwilioMessagesTarget(TwilioConfig(twilio.account_sid, twilio.auth_token, twilio.base_url))
    registry, runner = _runner(db, keyring, clients, sg, tw)
    relay = OutboxRelay(db, publisher, metrics)
    consumer = EventConsumer(
        "erasure.erasure-requested",
        ERASURE_REQUESTED,
        ErasurePlanner(registry).on_erasure_requested,
        database=db,
        producer=publisher,
        metrics=metrics,
    )
    requests = PrivacyRequests(db, keyring, MembershipContacts(clients["membership"]))
    state = Pipeline(
        db,
        keyring,
        requests,
        runner,
        stores,
        twilio,
        sendgrid,
        sms.sid,
        relay,
        consumer,
        read_topic,
        restart=lambda: None,
        clients=clients,
        confirmations=confirmations,
    )

    async def restart() -> None:
        """As a new process would: new database engine, keyring and runner; nothing kept in
        memory but the stand-ins."""
        await state.db.close()
        state.db = Database(database_url, tenant=current_tenant)
        state.keyring = Keyring(KeyStore(state.db), KEK, LEDGER_KEY)
        for store in stores.values():
            store.keyring = state.keyring
        _, state.runner = _runner(state.db, state.keyring, clients, sg, tw)
        state.requests = PrivacyRequests(
            state.db, state.keyring, MembershipContacts(clients["membership"])
        )

    state.restart = restart
    yield state
    await tw.close()
    for client in clients.values():
        await client.close()
    for server in servers:
        await server.stop(0)
    await twilio.stop()
    await sendgrid.stop()
    await state.db.close()


def send_email(server: sendgrid_loopback.SendGridLoopback, to: str) -> str:
    """An email sent through the loopback SendGrid with the SDK; its X-Message-Id."""
    client = SendGridAPIClient(server.api_key, host=server.base_url)
    answer = client.send(
        Mail("post@example.no", to, "Kvittering", plain_text_content="Takk for betalingen")
    )
    return str(answer.headers["X-Message-Id"])


async def _no_keys(api_key: str) -> None:
    return None
