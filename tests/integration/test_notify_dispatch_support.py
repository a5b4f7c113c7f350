"""Shared parts of the dispatcher tests (no tests here): a migrated notify database, keys
held locally instead of in the keyring, the loopback SendGrid and Twilio servers, the real
adapters over the official SDKs pointed at them, and queued message rows as the message
content code writes them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select

from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.notify.adapters.orm import messages
from services.notify.adapters.sendgrid_email import SendGridConfig, SendGridEmail
from services.notify.adapters.twilio_sms import TwilioConfig, TwilioSms
from services.notify.domain.messages import QUEUED
from services.notify.service_layer.dispatch import Dispatcher, DispatchPolicy, EmailContact
from tests.integration.conftest import SERVICES_DIR
from tests.loopback.keys import LocalKeys
from tests.loopback.sendgrid import SendGridLoopback
from tests.loopback.twilio import TwilioLoopback

ORG = "11111111-1111-4111-8111-111111111111"
SUPPRESSION_KEY = b"test-suppression-key"
FROM_NUMBER = "+4790000000"
TIMEOUT_S = 0.5


@pytest.fixture
async def notify_db(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await upgrade_to_head(db, SERVICES_DIR / "notify" / "migrations")
    yield db
    await db.close()


@pytest.fixture
def keys() -> LocalKeys:
    return LocalKeys()


@pytest.fixture
async def sendgrid() -> AsyncIterator[SendGridLoopback]:
    server = SendGridLoopback()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioLoopback]:
    server = TwilioLoopback()
    await server.start()
    yield server
    for client in server.clients:
        await client.close()
    await server.stop()


def unsubscribe_url(org_id: str, member_id: str, purpose: str, message_id: str) -> str:
    return f"https://notify.example/unsubscribe/{message_id}"


def sendgrid_email(server: SendGridLoopback, **overrides: Any) -> SendGridEmail:
    config = SendGridConfig(
        api_key=server.api_key,
        base_url=server.base_url,
        from_email="no-reply@kontingent.test",
        unsubscribe_group_id=4242,
        requests_per_s=1000.0,
        timeout_s=TIMEOUT_S,
    )
    return SendGridEmail(config, overrides.get("unsubscribe_url", unsubscribe_url))


def twilio_sms(server: TwilioLoopback) -> TwilioSms:
    """The adapter over the official SDK, pointed at the loopback server (closed with it)."""
    client = TwilioSms(
        TwilioConfig(
            account_sid=server.account_sid,
            auth_token=server.auth_token,
            from_number=FROM_NUMBER,
            public_base_url="https://notify.example",
            base_url=server.base_url,
            requests_per_s=1000.0,
            timeout_s=TIMEOUT_S,
        )
    )
    server.clients.append(client)
    return client


class Emails:
    """Membership's answer for an SMS's email fallback: the members given here, by id."""

    def __init__(self) -> None:
        self.members: dict[str, EmailContact] = {}

    async def email_contact(self, org_id: str, member_id: str) -> EmailContact | None:
        return self.members.get(member_id)


def make_dispatcher(
    db: Database,
    keys: LocalKeys,
    email: Any,
    sms: Any,
    contacts: Emails | None = None,
    **policy: Any,
) -> Dispatcher:
    settings = {"backoff_base_s": 0.05, "backoff_cap_s": 0.2, "max_attempts": 8, **policy}
    return Dispatcher(
        db, keys, email, sms, SUPPRESSION_KEY, DispatchPolicy(**settings), contacts=contacts
    )


async def queue(
    db: Database,
    keys: LocalKeys,
    *,
    channel: str = "email",
    to: str = "kari@example.no",
    member_id: str | None = None,
    template: str = "payment-receipt",
    purpose: str = "billing",
    message_class: str = "transactional",
    subject: str = "Kvittering",
    body: str = "Takk for betalingen.",
    html: str | None = "<p>Takk for betalingen.</p>",
) -> str:
    """A QUEUED row, as the message content code writes it."""
    member_id = member_id or keys.new_member()
    event_id = str(uuid.uuid4())
    message_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{event_id}/{template}/{channel}"))
    fields = {"recipient": to, "subject": subject, "body": body}
    if html is not None and channel == "email":
        fields["html"] = html
    sealed = await keys.seal(member_id, fields)
    async with db.transaction() as session:
        await session.execute(
            insert(messages).values(
                id=message_id,
                org_id=ORG,
                member_id=member_id,
                source_event_id=event_id,
                template=template,
                channel=channel,
                purpose=purpose,
                message_class=message_class,
                recipient_sealed=sealed["recipient"],
                subject_sealed=sealed["subject"],
                body_sealed=sealed["body"],
                html_sealed=sealed.get("html"),
                segments=1 if channel == "sms" else None,
                status=QUEUED,
                created_at=datetime.now(UTC),
            )
        )
    return message_id


async def row_of(db: Database, message_id: str) -> Any:
    async with db.sessions() as session:
        return (await session.execute(select(messages).where(messages.c.id == message_id))).one()


async def rows(db: Database) -> list[Any]:
    async with db.sessions() as session:
        return list((await session.execute(select(messages))).all())


async def drain(dispatcher: Dispatcher, db: Database, within_s: float = 20.0) -> None:
    """Dispatch until no message waits (QUEUED, RETRY, UNKNOWN, SENDING) or time is up."""
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        await dispatcher.run_once()
        waiting = [r for r in await rows(db) if r.status in ("queued", "retry", "unknown")]
        if not waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("messages still waiting after the deadline")
