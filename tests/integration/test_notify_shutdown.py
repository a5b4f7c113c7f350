"""Notify stopping with real providers (EMAIL_MODE=sendgrid, SMS_MODE=twilio, pointed at the
loopback servers): the dispatcher is wired by the service's own code and closed by the
runtime when it stops, so the SendGrid sender threads end and Twilio's HTTP session closes;
a call still in SendGrid's hands when the service stops is waited for, not abandoned."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from services.common.db.migrations import upgrade_to_head
from services.common.grpc.client import ServiceClient
from services.common.runtime import Runtime
from services.notify.adapters.twilio_sms import TwilioSms
from services.notify.config import NotifySettings
from services.notify.dispatching import add_dispatcher
from services.notify.service_layer.dispatch import Dispatcher
from tests.integration.conftest import SERVICES_DIR
from tests.integration.test_notify_dispatch_support import keys, queue, rows, sendgrid, twilio
from tests.loopback.keys import LocalKeys
from tests.loopback.sendgrid import SendGridLoopback
from tests.loopback.twilio import TwilioLoopback

__all__ = ["keys", "sendgrid", "twilio"]  # fixtures

MIGRATIONS = SERVICES_DIR / "notify" / "migrations"
SENDER_THREADS = 4


def notify_runtime(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: str,
    broker: str,
    sendgrid: SendGridLoopback,
    twilio: TwilioLoopback,
) -> tuple[Runtime, NotifySettings]:
    for name, value in {
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": broker,
        "INTERNAL_TOKEN": "internal-token-for-tests",
        "SUPPRESSION_KEY": "suppression-key-for-tests",
        "EMAIL_MODE": "sendgrid",
        "SENDGRID_API_KEY": sendgrid.api_key,
        "SENDGRID_BASE_URL": sendgrid.base_url,
        "SENDGRID_REQUESTS_PER_S": "1000",
        "SENDGRID_CONCURRENCY": str(SENDER_THREADS),
        "SMS_MODE": "twilio",
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_FROM": "+4790000000",
        "TWILIO_BASE_URL": twilio.base_url,
        "TWILIO_REQUESTS_PER_S": "1000",
        "PROVIDER_TIMEOUT_S": "5",
        "DISPATCH_POLL_S": "0.05",
    }.items():
        monkeypatch.setenv(name, value)

    class ShutdownTestSettings(NotifySettings):
        # A name of its own: the runtime registers its metrics under it, once per process.
        service_name = f"notifystop{uuid.uuid4().hex[:8]}"

    settings = ShutdownTestSettings()
    return Runtime(settings, MIGRATIONS), settings


async def wired(runtime: Runtime, settings: NotifySettings, keys: LocalKeys) -> Dispatcher:
    """The dispatcher as notify's bootstrap wires it (membership is never asked here)."""
    await upgrade_to_head(runtime.database, MIGRATIONS)
    membership = ServiceClient("membership", "127.0.0.1:1", "internal-token-for-tests")
    return add_dispatcher(runtime, settings, keys, membership)  # type: ignore[arg-type]


def new_sender_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and t.name.startswith("sendgrid")]


async def until(check: Callable[[], Awaitable[bool]], within_s: float = 20.0) -> None:
    """Polls until check() holds; fails only if it never does (not a timing assertion)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.05)


async def test_stopping_notify_ends_the_sendgrid_threads_and_closes_the_twilio_session(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: str,
    broker: str,
    keys: LocalKeys,
    sendgrid: SendGridLoopback,
    twilio: TwilioLoopback,
) -> None:
    runtime, settings = notify_runtime(
        monkeypatch, tmp_path, database_url, broker, sendgrid, twilio
    )
    dispatcher = await wired(runtime, settings, keys)
    assert isinstance(dispatcher.sms, TwilioSms)
    before = set(threading.enumerate())

    async with runtime.running():
        await queue(runtime.database, keys, channel="email", to="kari@example.no")
        await queue(runtime.database, keys, channel="sms", to="+4791234567")
        dispatcher.wake()

        async def all_sent() -> bool:
            return [r.status for r in await rows(runtime.database)] == ["sent", "sent"]

        await until(all_sent)
        senders = new_sender_threads(before)
        session = dispatcher.sms._http._session
        assert len(senders) == SENDER_THREADS and all(t.is_alive() for t in senders)
        assert session is not None and not session.closed

    assert len(sendgrid.sent) == 1 and len(twilio.sent) == 1
    assert session.closed
    assert not any(t.is_alive() for t in senders)
    assert new_sender_threads(before) == []
    await dispatcher.close()  # closing again is harmless: it was done once, by the runtime


async def test_a_send_in_sendgrids_hands_when_notify_stops_is_waited_for(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: str,
    broker: str,
    keys: LocalKeys,
    sendgrid: SendGridLoopback,
    twilio: TwilioLoopback,
) -> None:
    runtime, settings = notify_runtime(
        monkeypatch, tmp_path, database_url, broker, sendgrid, twilio
    )
    dispatcher = await wired(runtime, settings, keys)
    sendgrid.faults.slow, sendgrid.faults.delay_s = 1, 1.0  # answered within the deadline
    before = set(threading.enumerate())

    async with runtime.running():
        await queue(runtime.database, keys, channel="email", to="kari@example.no")
        dispatcher.wake()

        async def in_sendgrids_hands() -> bool:
            return sendgrid.calls == 1

        await until(in_sendgrids_hands)
        senders = new_sender_threads(before)
        assert senders

    # The stop cancelled the dispatcher's round, then waited for the sender thread to finish
    # the call it was in before ending it; the message was not sent a second time.
    assert not any(t.is_alive() for t in senders)
    assert sendgrid.calls == 1
