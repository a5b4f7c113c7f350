"""Email through SendGrid's v3 mail/send, with the official SDK. The SDK is synchronous: each
call runs on one of `concurrency` threads of the adapter's own, fed from a queue
(sender_threads.py), behind a client-side rate limiter, with a socket timeout, and is measured.
The whole call runs there: building the Mail and its JSON, the request, reading the answer and
classifying a failure; the event loop only queues it and takes the answer.

The SDK builds every request (SendGridAPIClient, Mail, its headers, URL and JSON) and reads
every answer (python_http_client's Response and HTTPError), but it does not send them itself:
its HTTP library builds a urllib opener per call and opens a new connection per email (in
production a TLS handshake with api.sendgrid.com each time), which was most of notify's CPU.
Its client is replaced by KeepAliveClient (sendgrid_transport.py): the same requests, byte for
byte but for urllib's "Connection: close", over one kept-alive connection per sender thread,
closed after a failure, when idle too long, and when the thread ends (close()). A failure to
connect is "not sent, try again"; a connection lost after the request began going out is
unknown, like a timeout: the next attempt first looks the message up. Proxy settings in the
environment (which urllib honours) keep the SDK's own client.

Our message id travels in `custom_args` (it comes back in the Event Webhook and is what the
Email Activity API is searched by after a timeout). Marketing email carries RFC 8058 one-click
unsubscribe headers and goes out in an unsubscribe group. What SendGrid is told: the address,
the subject and bodies, our ids. Nothing else personal."""

from __future__ import annotations

import functools
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from aiolimiter import AsyncLimiter
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Asm, CustomArg, From, GroupId, Header, Mail

from services.common.logging import get_logger
from services.notify.adapters.sender_threads import SenderThreads
from services.notify.adapters.sendgrid_transport import (
    KeepAliveClient,
    NoAnswer,
    NotSent,
    ThreadConnections,
)
from services.notify.domain.delivery import (
    PERMANENT,
    TIMEOUT,
    TRANSIENT,
    OutgoingEmail,
    ProviderFailure,
    parse_retry_after,
)
from services.notify.domain.messages import MARKETING
from services.notify.metrics import PROVIDER_REQUEST_DURATION, PROVIDER_REQUESTS

log = get_logger(__name__)

PROVIDER = "sendgrid"
T = TypeVar("T")


class UnsubscribeUrl(Protocol):
    """The one-click unsubscribe link of a message (built by the message content code)."""

    def __call__(self, org_id: str, member_id: str, purpose: str, message_id: str) -> str: ...


class UnsubscribeNotWired(RuntimeError):
    """Marketing email without a way to unsubscribe is never sent."""


@dataclass(frozen=True)
class SendGridConfig:
    api_key: str
    base_url: str = "https://api.sendgrid.com"
    from_email: str = "no-reply@kontingent.local"
    unsubscribe_group_id: int | None = None
    requests_per_s: float = 100.0
    concurrency: int = 16
    timeout_s: float = 10.0


def classify_http_error(exc: HTTPError) -> ProviderFailure:
    status = int(exc.status_code)
    if status == 429:
        headers = exc.headers or {}
        return ProviderFailure(TRANSIENT, "429", parse_retry_after(headers.get("Retry-After")))
    if status >= 500 or status in (401, 403, 408):
        # 401/403: our key is wrong or revoked; the message itself is fine, and a fixed key
        # must still send it.
        return ProviderFailure(TRANSIENT, str(status))
    return ProviderFailure(PERMANENT, f"sendgrid-{status}")


def classify_transport_error(exc: BaseException) -> ProviderFailure:
    """Not connected: not sent, try again. The connection lost after the request began going
    out, or no answer in time: unknown (the next attempt looks the message up first).
    Through the SDK's own client (urllib, behind a proxy): a bare timeout while reading the
    answer is unknown; errors while connecting or sending come wrapped in URLError (not sent),
    a timeout among them counted as unknown."""
    if isinstance(exc, NotSent):
        return ProviderFailure(TRANSIENT, "connection")
    if isinstance(exc, NoAnswer):
        return ProviderFailure(TIMEOUT, "no-answer")
    if isinstance(exc, TimeoutError | socket.timeout):
        return ProviderFailure(TIMEOUT, "timeout")
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, TimeoutError):
        return ProviderFailure(TIMEOUT, "timeout")
    return ProviderFailure(TRANSIENT, "connection")


@functools.cache
def _requests(outcome: str) -> Any:
    return PROVIDER_REQUESTS.labels(PROVIDER, outcome)


_DURATION = PROVIDER_REQUEST_DURATION.labels(PROVIDER)


class SendGridEmail:
    name = PROVIDER

    def __init__(
        self, config: SendGridConfig, unsubscribe_url: UnsubscribeUrl | None = None
    ) -> None:
        self.config = config
        self.unsubscribe_url = unsubscribe_url
        self.client = SendGridAPIClient(config.api_key, host=config.base_url.rstrip("/"))
        self.client.client.timeout = config.timeout_s  # inherited by every request it builds
        # Each sender thread's connection to SendGrid (see sendgrid_transport.py).
        self.connections = ThreadConnections()
        if _proxy_for(config.base_url) is None:
            self.client.client = KeepAliveClient.replacing(self.client.client, self.connections)
        else:  # urllib goes through the proxy; a connection of our own would bypass it
            log.info("sendgrid_through_proxy")
        self.limiter = AsyncLimiter(config.requests_per_s, 1.0)
        # The same for every message, so built once (and only read while a Mail is built).
        self._from = From(config.from_email)
        self._asm = (
            None
            if config.unsubscribe_group_id is None
            else Asm(GroupId(config.unsubscribe_group_id))
        )
        # Threads of its own, `concurrency` of them: at most that many calls at once, the rest
        # queued (a burst waits its turn instead of a 429). Each closes its connection as it
        # ends.
        self._threads = SenderThreads(config.concurrency, "sendgrid", on_end=self.connections.close)

    async def close(self) -> None:
        """Waits for the sender threads to end, each closing its connection: the calls already
        running finish (each within its deadline); a thread still in one after twice the
        deadline is left to it (and closes its connection once done)."""
        if not await self._threads.close(timeout_s=2 * self.config.timeout_s):
            log.warning("sendgrid_threads_still_running")

    async def _call(self, operation: str, call: Callable[[], T]) -> T:
        async with self.limiter:
            return await self._threads.run(functools.partial(_measured, operation, call))

    def mail_of(self, email: OutgoingEmail) -> Mail:
        mail = Mail(
            from_email=self._from,
            to_emails=email.to,
            subject=email.subject,
            plain_text_content=email.text,
            html_content=email.html or None,
        )
        mail.custom_arg = CustomArg("message_id", email.message_id)
        if email.message_class == MARKETING:
            if self.unsubscribe_url is None:
                raise UnsubscribeNotWired("marketing email needs an unsubscribe link")
            url = self.unsubscribe_url(
                email.org_id, email.member_id, email.purpose, email.message_id
            )
            mail.header = [
                Header("List-Unsubscribe", f"<{url}>"),
                Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ]
            if self._asm is not None:
                mail.asm = self._asm
        return mail

    def _send_now(self, email: OutgoingEmail) -> str:
        """On a sender thread: the Mail, its JSON, the request and the answer."""
        response = self.client.send(self.mail_of(email))
        headers: Any = response.headers
        return str(headers.get("X-Message-Id") or f"accepted-{email.message_id}")

    async def send(self, email: OutgoingEmail) -> str:
        """SendGrid's message id (X-Message-Id) once accepted; raises ProviderFailure."""
        if email.message_class == MARKETING and self.unsubscribe_url is None:
            raise UnsubscribeNotWired("marketing email needs an unsubscribe link")
        return await self._call("send", functools.partial(self._send_now, email))

    async def lookup(self, message_id: str) -> str | None:
        """SendGrid's id of the message we sent with this id, if it reached SendGrid (Email
        Activity API, searched by our custom arg)."""
        query = {"query": f"unique_args['message_id']=\"{message_id}\"", "limit": 1}
        response = await self._call(
            "lookup", lambda: self.client.client.messages.get(query_params=query)
        )
        found = response.to_dict or {}
        for message in found.get("messages", []):
            return str(message.get("msg_id") or f"accepted-{message_id}")
        return None


def _proxy_for(base_url: str) -> str | None:
    """The proxy urllib would take to `base_url` (from the environment), if any."""
    parts = urlsplit(base_url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy is None or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def _measured(operation: str, call: Callable[[], T]) -> T:
    """On a sender thread: the call, timed and counted, its failure classified."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        return call()
    except HTTPError as exc:
        failure = classify_http_error(exc)
        outcome = failure.kind
        raise failure from None
    except (OSError, urllib.error.URLError) as exc:
        failure = classify_transport_error(exc)
        outcome = failure.kind
        raise failure from None
    finally:
        _requests(f"{operation}-{outcome}").inc()
        _DURATION.observe(time.perf_counter() - started)
