"""The SendGrid adapter's kept-alive connections (sendgrid_transport.py), the official SDK
against the loopback SendGrid server: one connection per sender thread, reused; a connection
the server closed, or idle too long, is replaced and the next email sent once; 429, 5xx, 400
and a timeout classified as before; a connection lost before the answer is unknown (looked up
before a retry), a failure to connect is not sent; the requests are the SDK's byte for byte
but for "Connection: close"; closing the adapter closes its connections."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from python_http_client.client import Client
from sendgrid import SendGridAPIClient

from services.notify.adapters.sendgrid_email import SendGridConfig, SendGridEmail
from services.notify.adapters.sendgrid_transport import KeepAliveClient
from services.notify.domain.delivery import (
    PERMANENT,
    TIMEOUT,
    TRANSIENT,
    OutgoingEmail,
    ProviderFailure,
)
from services.notify.domain.messages import TRANSACTIONAL
from tests.integration.test_notify_dispatch_support import sendgrid, unsubscribe_url
from tests.loopback.sendgrid import API_KEY, SendGridLoopback
from tests.loopback.server import LoopbackServer

__all__ = ["sendgrid"]  # fixtures

TIMEOUT_S = 2.0


def adapter(base_url: str, concurrency: int = 1, timeout_s: float = TIMEOUT_S) -> SendGridEmail:
    config = SendGridConfig(
        api_key=API_KEY,
        base_url=base_url,
        from_email="no-reply@kontingent.test",
        requests_per_s=1000.0,
        concurrency=concurrency,
        timeout_s=timeout_s,
    )
    return SendGridEmail(config, unsubscribe_url)


def outgoing(to: str = "kari@example.no") -> OutgoingEmail:
    return OutgoingEmail(
        message_id=str(uuid.uuid4()),
        org_id="org",
        member_id="member",
        to=to,
        subject="Kvittering",
        text="Takk for betalingen.",
        html="<p>Takk for betalingen.</p>",
        purpose="billing",
        message_class=TRANSACTIONAL,
    )


async def until(check: Callable[[], bool], within_s: float = 10.0) -> None:
    """Polls until check() holds; fails only if it never does (not a timing assertion)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.01)


def server_connections(server: LoopbackServer) -> list[Any]:
    assert server.runner is not None and server.runner.server is not None
    return server.runner.server.connections


async def failure_of(email: SendGridEmail, message: OutgoingEmail) -> tuple[str, str, Any]:
    with pytest.raises(ProviderFailure) as failed:
        await email.send(message)
    return failed.value.kind, failed.value.code, failed.value.retry_after_s


async def test_emails_from_one_thread_go_over_one_connection(sendgrid: SendGridLoopback) -> None:
    email = adapter(sendgrid.base_url)
    messages = [outgoing() for _ in range(5)]
    for message in messages:
        await email.send(message)
    assert await email.lookup(messages[0].message_id) == sendgrid.sent[0].msg_id
    await email.close()

    assert [m.message_id for m in sendgrid.sent] == [m.message_id for m in messages]
    assert len(set(sendgrid.send_ports)) == 1


async def test_each_sender_thread_keeps_a_connection_of_its_own(
    sendgrid: SendGridLoopback,
) -> None:
    email = adapter(sendgrid.base_url, concurrency=3)
    await asyncio.gather(*(email.send(outgoing()) for _ in range(30)))
    await email.close()

    assert len(sendgrid.sent) == 30
    assert 1 <= len(set(sendgrid.send_ports)) <= 3


async def test_closing_the_adapter_closes_its_connections(sendgrid: SendGridLoopback) -> None:
    email = adapter(sendgrid.base_url, concurrency=2)
    await asyncio.gather(*(email.send(outgoing()) for _ in range(4)))
    assert server_connections(sendgrid.server)

    await email.close()
    await until(lambda: not server_connections(sendgrid.server))


async def test_a_connection_the_server_closed_meanwhile_is_replaced_and_the_email_sent_once(
    sendgrid: SendGridLoopback,
) -> None:
    email = adapter(sendgrid.base_url)
    first, second = outgoing(), outgoing()
    await email.send(first)
    for handler in server_connections(sendgrid.server):  # as a server ends an idle connection
        handler.force_close()
    await until(lambda: not server_connections(sendgrid.server))

    await email.send(second)
    await email.close()

    assert [m.message_id for m in sendgrid.sent] == [first.message_id, second.message_id]
    assert sendgrid.calls == 2 and sendgrid.lookups == 0  # not taken for an unknown outcome
    assert len(set(sendgrid.send_ports)) == 2


async def test_a_connection_idle_past_the_limit_is_not_reused(sendgrid: SendGridLoopback) -> None:
    email = adapter(sendgrid.base_url)
    email.connections.idle_s = 0.0  # every connection is "idle too long" by the next call
    await email.send(outgoing())
    await email.send(outgoing())
    await email.close()

    assert len(sendgrid.sent) == 2 and len(set(sendgrid.send_ports)) == 2


async def test_429_5xx_and_400_are_classified_as_before_and_the_connection_kept(
    sendgrid: SendGridLoopback,
) -> None:
    email = adapter(sendgrid.base_url)
    sendgrid.faults.throttle, sendgrid.faults.retry_after_s = 1, 7.0
    assert await failure_of(email, outgoing()) == (TRANSIENT, "429", 7.0)
    sendgrid.faults.server_errors = 1
    assert await failure_of(email, outgoing()) == (TRANSIENT, "503", None)
    sendgrid.faults.invalid.add("nobody@invalid.example")
    assert await failure_of(email, outgoing("nobody@invalid.example")) == (
        PERMANENT,
        "sendgrid-400",
        None,
    )
    await email.send(outgoing())
    await email.close()

    assert sendgrid.calls == 4 and len(sendgrid.sent) == 1
    assert len(set(sendgrid.send_ports)) == 1  # a whole answer, even an error, keeps it


async def test_a_timeout_is_unknown_and_the_next_email_goes_on_a_new_connection(
    sendgrid: SendGridLoopback,
) -> None:
    email = adapter(sendgrid.base_url, timeout_s=0.3)
    sendgrid.faults.slow, sendgrid.faults.delay_s = 1, 1.0  # accepted, answered too late
    assert await failure_of(email, outgoing()) == (TIMEOUT, "timeout", None)
    await email.send(outgoing())
    await email.close()

    assert len(sendgrid.sent) == 2 and len(set(sendgrid.send_ports)) == 2


async def test_a_connection_lost_before_the_answer_is_unknown_not_unsent(
    sendgrid: SendGridLoopback,
) -> None:
    """The server took the email and the reused connection broke before the answer: a retry
    without a lookup would send it twice."""
    email = adapter(sendgrid.base_url)
    await email.send(outgoing())
    message = outgoing()
    sendgrid.faults.slow, sendgrid.faults.delay_s = 1, 1.0  # accepted, the answer held back
    sending = asyncio.ensure_future(email.send(message))
    await until(lambda: sendgrid.calls == 2)
    for handler in server_connections(sendgrid.server):
        handler.force_close()

    with pytest.raises(ProviderFailure) as failed:
        await sending
    assert (failed.value.kind, failed.value.code) == (TIMEOUT, "no-answer")
    assert await email.lookup(message.message_id) == sendgrid.sent_for(message.message_id)[0].msg_id
    await email.close()


async def test_a_failure_to_connect_is_not_sent() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    email = adapter(f"http://127.0.0.1:{port}")
    assert await failure_of(email, outgoing()) == (TRANSIENT, "connection", None)
    await email.close()


async def test_the_requests_are_the_sdks_but_for_connection_close() -> None:
    """The same Mail and the same lookup through the stock SDK (urllib) and the adapter: the
    same method, path, headers (and their order) and body; only urllib's "Connection: close"
    is not sent."""
    seen: list[tuple[str, str, list[tuple[bytes, bytes]], bytes]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(
            (request.method, request.path_qs, list(request.raw_headers), await request.read())
        )
        if request.method == "POST":
            return web.Response(status=202, headers={"X-Message-Id": "sg-1"})
        return web.json_response({"messages": []})

    app = web.Application()
    app.router.add_post("/v3/mail/send", record)
    app.router.add_get("/v3/messages", record)
    server = LoopbackServer(app)
    base_url = await server.start()
    try:
        email = adapter(base_url)
        message = outgoing()
        mail = email.mail_of(message)
        query = {"query": f"unique_args['message_id']=\"{message.message_id}\"", "limit": 1}
        stock = SendGridAPIClient(API_KEY, host=base_url)
        stock.client.timeout = TIMEOUT_S
        await asyncio.to_thread(stock.send, mail)
        await asyncio.to_thread(lambda: stock.client.messages.get(query_params=query))
        await email.send(message)
        assert await email.lookup(message.message_id) is None
        await email.close()
    finally:
        await server.stop()

    stock_send, stock_lookup, our_send, our_lookup = seen
    for theirs, ours in ((stock_send, our_send), (stock_lookup, our_lookup)):
        assert (b"Connection", b"close") in theirs[2]
        assert ours == (
            theirs[0],
            theirs[1],
            [h for h in theirs[2] if h[0] != b"Connection"],
            theirs[3],
        )


def test_with_a_proxy_in_the_environment_the_sdks_own_client_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """urllib goes through the proxy; a connection of the adapter's own would bypass it."""
    for name in ("no_proxy", "NO_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(adapter("https://api.sendgrid.com").client.client, KeepAliveClient)

    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    assert type(adapter("https://api.sendgrid.com").client.client) is Client
