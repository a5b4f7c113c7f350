"""Shared parts of notify's delivery-webhook tests (no tests here): the production routes on a
real aiohttp server over a real database, signing as SendGrid and Twilio do, and messages in
the log. Membership's InternalDirectory is a recording gRPC stand-in (the e2e suite withdraws
in the real membership)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
import grpc
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from membership.v1 import membership_pb2, membership_pb2_grpc
from prometheus_client import CollectorRegistry
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.grpc.auth import current_tenant
from services.common.grpc.client import ServiceClient
from services.common.metrics import ServiceMetrics
from services.common.sealing import seal_with
from services.notify.adapters.orm import messages
from services.notify.adapters.repository import Repository
from services.notify.domain.suppression import address_hash
from services.notify.entrypoints.webhooks import (
    SENDGRID_PATH,
    SendGridEvents,
    TwilioCallbacks,
    add_webhook_routes,
)
from services.notify.service_layer.delivery_status import DeliveryStatus, membership_withdrawer
from tests.integration.conftest import SERVICES_DIR

SUPPRESSION_KEY = b"suppression-key-for-tests"
AUTH_TOKEN = "twilio-auth-token-for-tests"
PUBLIC_BASE_URL = "https://notify.example.org"  # as Twilio calls it, not the test server's
EMAIL = "kari.nordmann@example.no"
PHONE = "+4791234567"
OUR_NUMBER = "+4759440000"
SEALING_KEY = bytes(range(32))


def der_b64(key: ec.EllipticCurvePrivateKey) -> str:
    return base64.b64encode(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()


SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
FORGER_KEY = ec.generate_private_key(ec.SECP256R1())


class Directory(membership_pb2_grpc.InternalDirectoryServicer):
    """Membership's InternalDirectory.WithdrawConsent, recording what it was asked."""

    def __init__(self) -> None:
        self.withdrawn: list[tuple[str, str, str, str]] = []
        self.down = False

    async def WithdrawConsent(
        self, request: membership_pb2.WithdrawConsentRequest, context: grpc.aio.ServicerContext
    ) -> membership_pb2.Consents:
        if self.down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "down for the test")
        self.withdrawn.append((request.org_id, request.member_id, request.purpose, request.source))
        return membership_pb2.Consents()


@dataclass
class Notify:
    client: TestClient
    db: Database
    directory: Directory

    async def sendgrid(
        self,
        events: list[dict[str, Any]] | bytes,
        *,
        key: ec.EllipticCurvePrivateKey = SENDGRID_KEY,
        timestamp: int | None = None,
    ) -> tuple[int, dict[str, Any]]:
        body = events if isinstance(events, bytes) else json.dumps(events).encode()
        stamp = str(timestamp or int(time.time()))
        signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        response = await self.client.post(
            SENDGRID_PATH,
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
            },
        )
        return response.status, await response.json()

    async def twilio(
        self, path: str, form: dict[str, str], *, token: str = AUTH_TOKEN
    ) -> tuple[int, str]:
        signature = RequestValidator(token).compute_signature(PUBLIC_BASE_URL + path, form)
        response = await self.client.post(
            path, data=form, headers={"X-Twilio-Signature": signature}
        )
        return response.status, await response.text()


@pytest.fixture
async def notify(database_url: str) -> AsyncIterator[Notify]:
    db = Database(database_url, tenant=current_tenant)
    await upgrade_to_head(db, SERVICES_DIR / "notify" / "migrations")
    directory = Directory()
    server = grpc.aio.server()
    membership_pb2_grpc.add_InternalDirectoryServicer_to_server(directory, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    membership = ServiceClient("membership", f"127.0.0.1:{port}", "token", deadline_s=5.0)
    delivery = DeliveryStatus(db, membership_withdrawer(membership), SUPPRESSION_KEY)
    app = faust.App(
        f"test-notify-{uuid.uuid4().hex[:8]}",
        broker="kafka://127.0.0.1:1",
        autodiscover=False,
        web_enabled=True,
    )
    add_webhook_routes(
        app,
        ServiceMetrics("test", registry=CollectorRegistry()),
        SendGridEvents(delivery, der_b64(SENDGRID_KEY)),
        TwilioCallbacks(delivery, AUTH_TOKEN, PUBLIC_BASE_URL),
    )
    async with TestClient(TestServer(app.web.web_app)) as client:
        yield Notify(client, db, directory)
    await membership.close()
    await server.stop(None)
    await db.close()


async def add_message(
    db: Database,
    *,
    org_id: str = "org-a",
    member_id: str = "member-1",
    channel: str = "email",
    message_class: str = "service",
    purpose: str = "membership",
    provider: str = "sendgrid",
    provider_ref: str | None = None,
    recipient: str = EMAIL,
    with_hash: bool = True,
) -> str:
    mid = str(uuid.uuid4())

    def sealed(field: str, value: str) -> bytes:
        return seal_with(SEALING_KEY, member_id, field, value)

    async with db.transaction() as session:
        await Repository(session).add(
            id=mid,
            org_id=org_id,
            member_id=member_id,
            source_event_id=str(uuid.uuid4()),
            template="welcome",
            channel=channel,
            purpose=purpose,
            message_class=message_class,
            recipient_sealed=sealed("recipient", recipient),
            subject_sealed=sealed("subject", "Hei"),
            body_sealed=sealed("body", "Velkommen"),
            status="sent",
            provider=provider,
            provider_ref=provider_ref or f"{provider}-{uuid.uuid4().hex[:12]}",
            created_at=datetime.now(UTC),
            recipient_hash=address_hash(SUPPRESSION_KEY, channel, recipient) if with_hash else None,
        )
    return mid


async def message(db: Database, mid: str) -> Any:
    async with db.sessions() as session:
        return (await session.execute(select(messages).where(messages.c.id == mid))).one()


async def rows(db: Database, table: Any) -> list[Any]:
    async with db.sessions() as session:
        return list((await session.execute(select(table))).all())


def sg_event(event: str, mid: str, **extra: Any) -> dict[str, Any]:
    return {
        "email": EMAIL,
        "timestamp": int(time.time()),
        "event": event,
        "sg_event_id": uuid.uuid4().hex,
        "sg_message_id": "sg-abc.filter0001",
        "message_id": mid,  # our custom arg, at the top level as SendGrid puts it
        **extra,
    }
