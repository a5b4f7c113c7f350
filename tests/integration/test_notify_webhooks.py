"""Notify's delivery webhooks, served by the production routes on a real aiohttp server over a
real database: SendGrid's signed Event Webhook, Twilio's status callbacks and inbound SMS, and
the erasure of what they left. Membership's InternalDirectory is a recording gRPC stand-in
(the e2e suite withdraws in the real membership)."""

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
from sqlalchemy import select, text
from twilio.request_validator import RequestValidator

from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.grpc.auth import current_tenant
from services.common.grpc.client import ServiceClient
from services.common.metrics import ServiceMetrics
from services.common.sealing import seal_with, unseal_with
from services.notify.adapters.orm import delivery_events, messages, suppressions
from services.notify.adapters.repository import Repository
from services.notify.domain.suppression import address_hash
from services.notify.entrypoints.webhooks import (
    SENDGRID_PATH,
    TWILIO_INBOUND_PATH,
    TWILIO_STATUS_PATH,
    SendGridEvents,
    TwilioCallbacks,
    add_webhook_routes,
)
from services.notify.service_layer.delivery_status import DeliveryStatus, membership_withdrawer
from services.notify.service_layer.subject_store import MessageSubjectStore
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


class Sealer:
    """Seals as the real Sealer does, with one fixed key (the keyring is not under test)."""

    def __init__(self) -> None:
        self.forgotten: list[str] = []

    async def unseal(self, subject_id: str, sealed: dict[str, bytes]) -> dict[str, str]:
        return {f: unseal_with(SEALING_KEY, subject_id, f, v) for f, v in sealed.items()}

    def forget(self, subject_id: str) -> None:
        self.forgotten.append(subject_id)


class NoSandbox:
    async def forget(self, message_id: str) -> bool:
        return False


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


async def test_a_signed_sendgrid_batch_updates_each_message(notify: Notify) -> None:
    delivered, bounced, dropped = [await add_message(notify.db) for _ in range(3)]
    status, reply = await notify.sendgrid(
        [
            sg_event("processed", delivered),
            sg_event("delivered", delivered),
            sg_event("bounce", bounced, type="bounce", reason="550 no such user"),
            sg_event("dropped", dropped, reason="Bounced Address"),
        ]
    )
    assert (status, reply["received"]) == (200, 4)
    assert (await message(notify.db, delivered)).status == "delivered"
    assert (await message(notify.db, delivered)).delivered_at is not None
    assert (await message(notify.db, bounced)).status == "bounced"
    assert (await message(notify.db, dropped)).status == "dropped"
    # The hard bounce suppresses the address, by its keyed hash only.
    [suppressed] = await rows(notify.db, suppressions)
    assert (suppressed.org_id, suppressed.channel, suppressed.reason) == (
        "org-a",
        "email",
        "bounce",
    )
    assert suppressed.address_hash == address_hash(SUPPRESSION_KEY, "email", EMAIL)
    assert notify.directory.withdrawn == []  # nothing was marketing


async def test_a_soft_bounce_suppresses_nothing_and_a_late_delivered_undoes_nothing(
    notify: Notify,
) -> None:
    mid = await add_message(notify.db)
    await notify.sendgrid([sg_event("bounce", mid, type="blocked")])
    assert await rows(notify.db, suppressions) == []
    await notify.sendgrid([sg_event("delivered", mid)])
    assert (await message(notify.db, mid)).status == "bounced"


async def test_the_same_event_twice_changes_nothing(notify: Notify) -> None:
    mid = await add_message(notify.db, message_class="marketing", purpose="newsletter")
    batch = [sg_event("delivered", mid), sg_event("spamreport", mid)]
    assert (await notify.sendgrid(batch))[0] == 200
    first = await message(notify.db, mid)
    status, reply = await notify.sendgrid(batch)
    assert (status, reply.get("duplicate")) == (200, 2)
    assert await message(notify.db, mid) == first
    assert len(await rows(notify.db, delivery_events)) == 2
    assert notify.directory.withdrawn == [("org-a", "member-1", "newsletter", "spam-report")]


async def test_a_forged_or_expired_signature_gets_403_and_changes_nothing(
    notify: Notify,
) -> None:
    mid = await add_message(notify.db)
    batch = [sg_event("bounce", mid, type="bounce")]
    assert (await notify.sendgrid(batch, key=FORGER_KEY)) == (403, {"error": "signature_mismatch"})
    assert (await notify.sendgrid(batch, timestamp=int(time.time()) - 3600)) == (
        403,
        {"error": "timestamp_expired"},
    )
    unsigned = await notify.client.post(SENDGRID_PATH, data=json.dumps(batch))
    assert unsigned.status == 403
    # Signed, then altered on the way.
    body = json.dumps(batch).encode()
    stamp = str(int(time.time()))
    signature = SENDGRID_KEY.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    tampered = await notify.client.post(
        SENDGRID_PATH,
        data=body.replace(b"bounce", b"delivered", 1),
        headers={
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        },
    )
    assert tampered.status == 403
    assert (await message(notify.db, mid)).status == "sent"
    assert await rows(notify.db, delivery_events) == []
    assert await rows(notify.db, suppressions) == []


async def test_malformed_json_gets_400(notify: Notify) -> None:
    assert (await notify.sendgrid(b"[{not json"))[0] == 400
    assert (await notify.sendgrid([{"event": "delivered"}])) == (400, {"error": "not_events"})


async def test_a_spam_report_or_unsubscribe_on_marketing_withdraws_the_consent(
    notify: Notify,
) -> None:
    marketing = await add_message(notify.db, message_class="marketing", purpose="newsletter")
    receipt = await add_message(notify.db, message_class="transactional", purpose="billing")
    await notify.sendgrid(
        [
            sg_event("spamreport", marketing),
            sg_event("unsubscribe", marketing),
            sg_event("spamreport", receipt),
            sg_event("unsubscribe", receipt),
        ]
    )
    assert notify.directory.withdrawn == [
        ("org-a", "member-1", "newsletter", "spam-report"),
        ("org-a", "member-1", "newsletter", "unsubscribe"),
    ]
    assert (await message(notify.db, marketing)).status == "spam-reported"
    assert (await message(notify.db, receipt)).status == "spam-reported"


async def test_membership_down_answers_503_and_the_retry_applies(notify: Notify) -> None:
    mid = await add_message(notify.db, message_class="marketing", purpose="newsletter")
    batch = [sg_event("spamreport", mid)]
    notify.directory.down = True
    assert (await notify.sendgrid(batch))[0] == 503
    assert (await message(notify.db, mid)).status == "sent"
    assert await rows(notify.db, delivery_events) == []
    notify.directory.down = False
    assert (await notify.sendgrid(batch))[0] == 200
    assert (await message(notify.db, mid)).status == "spam-reported"
    assert len(notify.directory.withdrawn) == 1


async def test_a_signed_twilio_status_updates_and_a_forged_one_is_refused(
    notify: Notify,
) -> None:
    mid = await add_message(notify.db, channel="sms", provider="twilio", recipient=PHONE)
    sid = (await message(notify.db, mid)).provider_ref
    path = f"{TWILIO_STATUS_PATH}?message_id={mid}"
    form = {"MessageSid": sid, "MessageStatus": "delivered", "To": PHONE, "From": OUR_NUMBER}
    assert (await notify.twilio(path, form, token="not-the-token"))[0] == 403
    assert (await notify.twilio(path, {**form, "MessageStatus": "failed"}, token="x"))[0] == 403
    assert (await message(notify.db, mid)).status == "sent"
    assert await rows(notify.db, delivery_events) == []

    status, _ = await notify.twilio(path, form)
    assert status == 200
    assert (await message(notify.db, mid)).status == "delivered"
    assert json.loads((await notify.twilio(path, form))[1]) == {"outcome": "duplicate"}


async def test_a_failed_sms_records_twilios_error_code(notify: Notify) -> None:
    mid = await add_message(notify.db, channel="sms", provider="twilio", recipient=PHONE)
    form = {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert (await notify.twilio(f"{TWILIO_STATUS_PATH}?message_id={mid}", form))[0] == 200
    row = await message(notify.db, mid)
    assert (row.status, row.last_error) == ("undelivered", "30003")


async def test_an_inbound_stop_suppresses_the_number_as_a_hash_only(notify: Notify) -> None:
    await add_message(
        notify.db,
        channel="sms",
        provider="twilio",
        recipient=PHONE,
        message_class="marketing",
        purpose="newsletter",
    )
    await add_message(
        notify.db,
        org_id="org-b",
        member_id="member-9",
        channel="sms",
        provider="twilio",
        recipient="+47 912 34 567",
    )
    await add_message(
        notify.db, org_id="org-c", channel="sms", provider="twilio", recipient="+4700000000"
    )
    form = {"MessageSid": "SMin1", "From": PHONE, "To": OUR_NUMBER, "Body": "  Stopp \n"}
    assert (await notify.twilio(TWILIO_INBOUND_PATH, form, token="forged"))[0] == 403
    assert await rows(notify.db, suppressions) == []

    status, twiml = await notify.twilio(TWILIO_INBOUND_PATH, form)
    assert status == 200 and "<Response" in twiml
    hashed = address_hash(SUPPRESSION_KEY, "sms", PHONE)
    assert sorted(
        (r.org_id, r.channel, r.address_hash, r.reason) for r in await rows(notify.db, suppressions)
    ) == [
        ("org-a", "sms", hashed, "sms-stop"),
        ("org-b", "sms", hashed, "sms-stop"),
    ]
    assert notify.directory.withdrawn == [("org-a", "member-1", "newsletter", "sms-stop")]
    # The number is nowhere in notify's database, in any form.
    digits = PHONE.lstrip("+")
    async with notify.db.sessions() as session:
        for table in ("messages", "delivery_events", "suppressions"):
            for row in await session.execute(text(f"SELECT * FROM {table}")):
                for value in row:
                    as_text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    assert digits not in as_text and "912 34" not in as_text


async def test_an_inbound_message_that_is_not_stop_changes_nothing(notify: Notify) -> None:
    await add_message(notify.db, channel="sms", provider="twilio", recipient=PHONE)
    form = {
        "MessageSid": "SMin2",
        "From": PHONE,
        "To": OUR_NUMBER,
        "Body": "stop sending me bills?",
    }
    assert (await notify.twilio(TWILIO_INBOUND_PATH, form))[0] == 200
    assert await rows(notify.db, suppressions) == []


async def test_erasure_deletes_the_log_keeps_the_hash_and_lists_provider_ids(
    notify: Notify,
) -> None:
    email = await add_message(notify.db, provider_ref="sg-1.filter")
    old_sms = await add_message(  # from before the log kept the hash
        notify.db,
        channel="sms",
        provider="twilio",
        recipient=PHONE,
        provider_ref="SMold",
        with_hash=False,
    )
    other = await add_message(notify.db, member_id="member-2")
    await notify.sendgrid([sg_event("bounce", email, type="bounce")])
    await notify.twilio(TWILIO_INBOUND_PATH, {"From": PHONE, "To": OUR_NUMBER, "Body": "STOP"})
    del old_sms
    sealer = Sealer()
    store = MessageSubjectStore(notify.db, sealer, NoSandbox(), SUPPRESSION_KEY)  # type: ignore[arg-type]

    exported = await store.export("org-a", "member-1")
    assert {m["delivery"]["status"] for m in exported["messages"]} == {"bounced", "sent"}

    outcome = await store.erase("org-a", "member-1")
    assert outcome.provider_records == {"sendgrid": ["sg-1.filter"], "twilio": ["SMold"]}
    assert [(r.category, r.count) for r in outcome.removed] == [
        ("message-log", 2),
        ("delivery-events", 1),
    ]
    [kept] = outcome.kept
    assert (kept.category, kept.count, kept.pseudonymised) == ("suppression-list", 1, True)
    assert sealer.forgotten == ["member-1"]
    assert [r.id for r in await rows(notify.db, messages)] == [other]
    [suppressed] = await rows(notify.db, suppressions)  # the bounce; STOP found no hash
    assert suppressed.address_hash == address_hash(SUPPRESSION_KEY, "email", EMAIL)
