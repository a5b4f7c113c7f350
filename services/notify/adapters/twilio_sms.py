"""SMS through Twilio's Messages API, with the official SDK and its aiohttp client. The SDK
addresses https://api.twilio.com; our http client sends those requests to the configured base
URL instead (a loopback server in tests), with a deadline, behind a client-side rate limiter,
and measured.

The status callback carries our message id, so delivery reports find the message. Twilio has
no idempotency keys: after a timeout the dispatcher asks `lookup` whether the message went
out (messages to the number, created since the first attempt, with our body)."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
from aiolimiter import AsyncLimiter
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from services.notify.domain.delivery import (
    PERMANENT,
    TIMEOUT,
    TRANSIENT,
    OutgoingSms,
    ProviderFailure,
    parse_retry_after,
)
from services.notify.metrics import PROVIDER_REQUEST_DURATION, PROVIDER_REQUESTS

PROVIDER = "twilio"
TWILIO_API = "https://api.twilio.com"
# Clocks differ: a message created a little before our first attempt still counts.
LOOKUP_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    from_number: str
    public_base_url: str  # notify's own HTTP address, for the status callback
    base_url: str = TWILIO_API
    requests_per_s: float = 50.0
    timeout_s: float = 10.0


class _RoutedHttpClient(AsyncTwilioHttpClient):
    """The SDK's aiohttp client, sent to our base URL, with a connect/answer deadline. A 429
    is raised here with its Retry-After, which the SDK's exception would drop."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        super().__init__(pool_connections=False, timeout=timeout_s)
        self.base_url = base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        deadline = timeout or self.timeout or 10.0
        try:
            async with self._session.request(
                method.upper(),
                url,
                params=params,
                data=data,
                headers={**(headers or {}), **_basic(auth)},
                timeout=aiohttp.ClientTimeout(total=deadline, sock_connect=deadline),
                allow_redirects=allow_redirects,
            ) as answer:
                text = await answer.text()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
            raise ProviderFailure(TRANSIENT, "connection") from None
        except (TimeoutError, aiohttp.ClientError):
            # Connected and (perhaps) sent, then no answer: the outcome is unknown.
            raise ProviderFailure(TIMEOUT, "timeout") from None
        if answer.status == 429:
            raise ProviderFailure(
                TRANSIENT, "429", parse_retry_after(answer.headers.get("Retry-After"))
            )
        return Response(answer.status, text, answer.headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _basic(auth: tuple[str, str] | None) -> dict[str, str]:
    if auth is None:
        return {}
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def classify_rest_error(exc: TwilioRestException) -> ProviderFailure:
    if exc.status >= 500 or exc.status in (401, 403):
        return ProviderFailure(TRANSIENT, str(exc.status))
    code = f"twilio-{exc.code}" if exc.code else f"twilio-{exc.status}"
    return ProviderFailure(PERMANENT, code)


def opted_out(failure: ProviderFailure) -> bool:
    return failure.code == "twilio-21610"


class TwilioSms:
    name = PROVIDER

    def __init__(self, config: TwilioConfig) -> None:
        self.config = config
        self._http = _RoutedHttpClient(config.base_url, config.timeout_s)
        self.client = Client(
            config.account_sid, config.auth_token, config.account_sid, http_client=self._http
        )
        self.limiter = AsyncLimiter(config.requests_per_s, 1.0)

    @property
    def _messages(self) -> Any:
        return self.client.api.v2010.accounts(self.config.account_sid).messages

    async def close(self) -> None:
        await self._http.close()

    def status_callback(self, message_id: str) -> str:
        base = self.config.public_base_url.rstrip("/")
        return f"{base}/twilio/status?message_id={quote(message_id)}"

    async def _measured(self, operation: str, make: Any) -> Any:
        async with self.limiter:
            started = time.perf_counter()
            outcome = "ok"
            try:
                return await make()
            except ProviderFailure as failure:
                outcome = failure.kind
                raise
            except TwilioRestException as exc:
                failure = classify_rest_error(exc)
                outcome = failure.kind
                raise failure from None
            finally:
                PROVIDER_REQUESTS.labels(PROVIDER, f"{operation}-{outcome}").inc()
                PROVIDER_REQUEST_DURATION.labels(PROVIDER).observe(time.perf_counter() - started)

    async def send(self, sms: OutgoingSms) -> str:
        """Twilio's message SID once accepted; raises ProviderFailure."""
        created = await self._measured(
            "send",
            lambda: self._messages.create_async(
                to=sms.to,
                from_=self.config.from_number,
                body=sms.body,
                status_callback=self.status_callback(sms.message_id),
            ),
        )
        return str(created.sid)

    async def delete(self, sid: str) -> bool:
        """Deletes Twilio's copy of a message (its body and number) by SID; False when Twilio
        no longer holds it. Raises ProviderFailure otherwise: Twilio refuses to delete a
        message still being delivered, so the caller tries again later."""
        try:
            await self._measured("delete", lambda: self._messages(sid).delete_async())
        except ProviderFailure as failure:
            if failure.code == "twilio-20404":
                return False
            raise
        return True

    async def lookup(self, sms: OutgoingSms, since: datetime) -> str | None:
        """The SID of a message with our body to this number created since `since`, if one
        reached Twilio. (Filtered by date here: a message still queued at Twilio has no
        DateSent yet.)"""
        found = await self._measured(
            "lookup", lambda: self._messages.list_async(to=sms.to, limit=50)
        )
        earliest = since - LOOKUP_SLACK
        for message in found:
            created = message.date_created
            if message.body == sms.body and (created is None or created >= earliest):
                return str(message.sid)
        return None
