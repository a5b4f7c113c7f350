"""An HTTP reverse proxy between a service and something it calls (Stripe, SendGrid, Twilio,
billing's webhook), where a drill breaks the line: for a while every call answers 429 (with
Retry-After) or 5xx without reaching the other side; or the calls are held (answered 200 and
kept), to be delivered later many times over in shuffled order, as Stripe may redeliver.

In front of a webhook it can also deliver as Stripe does and localstripe does not: the sender
is answered at once, and a delivery the receiver did not answer 2xx is made again after a
pause, until it is; and each delivery is signed anew at its own time (Stripe gives every
attempt a new timestamp and signature, so a retry days later is not refused as stale)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field

import aiohttp
import stripe
from aiohttp import web

from tests.loopback.server import LoopbackServer, Served

# Not forwarded either way: they describe one hop, not the message.
HOP_HEADERS = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "content-encoding",
}
# One error body that each provider's SDK reads as an error of its own shape: Stripe's
# {"error": {...}}, SendGrid's {"errors": [...]}, Twilio's {"code", "message"}.
ERROR_BODY = {
    "error": {"type": "api_error", "message": "drill: injected failure"},
    "errors": [{"message": "drill: injected failure"}],
    "code": 20500,
    "message": "drill: injected failure",
}


@dataclass
class HeldRequest:
    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FaultProxy(Served):
    upstream: str  # base URL the calls go to
    failing_status: int = 0  # while non-zero, every call answers this status
    retry_after_s: int = 1
    holding: bool = False
    held: list[HeldRequest] = field(default_factory=list)
    redelivering: bool = False  # deliver as Stripe does (see the module's docstring)
    signing_secret: str = ""  # set: each delivery signed anew with it, as Stripe signs
    forwarded: int = 0
    refused: int = 0  # calls answered with failing_status
    redeliveries: int = 0

    def __post_init__(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        self.server = LoopbackServer(app)
        self.session: aiohttp.ClientSession | None = None
        self.deliveries: set[asyncio.Task[None]] = set()

    async def _open(self, _: web.Application) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64), auto_decompress=False
        )

    async def _close(self, _: web.Application) -> None:
        if self.session is not None:
            await self.session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if self.failing_status:
            self.refused += 1
            response = web.json_response(ERROR_BODY, status=self.failing_status)
            if self.failing_status == 429:
                response.headers["Retry-After"] = str(self.retry_after_s)
            return response
        held = HeldRequest(
            request.method,
            request.path_qs,
            {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS},
            body,
        )
        if self.holding:
            self.held.append(held)
            return web.json_response({"received": True})
        if self.redelivering:
            task = asyncio.create_task(self._deliver_until_accepted(held))
            self.deliveries.add(task)
            task.add_done_callback(self.deliveries.discard)
            return web.json_response({"received": True})
        status, headers, payload = await self._forward(held)
        return web.Response(status=status, headers=headers, body=payload)

    async def _forward(self, held: HeldRequest) -> tuple[int, dict[str, str], bytes]:
        """The upstream's answer; 502 when it could not be had (as a gateway answers)."""
        assert self.session is not None
        sent = held.headers
        if self.signing_secret:
            sent = {k: v for k, v in sent.items() if k.lower() != "stripe-signature"}
            sent["Stripe-Signature"] = stripe.WebhookSignature.generate_signature_header(
                held.body.decode(), self.signing_secret, int(time.time())
            )
        try:
            async with self.session.request(
                held.method, self.upstream + held.path_qs, headers=sent, data=held.body
            ) as answer:
                payload = await answer.read()
                headers = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS}
        except (aiohttp.ClientError, TimeoutError) as exc:
            return 502, {}, f"drill proxy: upstream unreachable ({type(exc).__name__})".encode()
        self.forwarded += 1
        return answer.status, headers, payload

    async def _deliver_until_accepted(self, held: HeldRequest) -> None:
        pause = 0.5
        while (await self._forward(held))[0] >= 300:
            self.redeliveries += 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, 8.0)

    async def replay(self, times: int, seed: int) -> dict[int, int]:
        """Delivers every held request `times` times, all copies in one shuffled order, a few
        at a time; stops holding. Returns how many deliveries got each status."""
        copies = [h for h in self.held for _ in range(times)]
        random.Random(seed).shuffle(copies)
        self.held, self.holding = [], False
        statuses: dict[int, int] = {}
        gate = asyncio.Semaphore(8)

        async def deliver(held: HeldRequest) -> None:
            async with gate:
                status, _, _ = await self._forward(held)
            statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(deliver(h) for h in copies))
        return statuses


def describe(statuses: dict[int, int]) -> str:
    return json.dumps(dict(sorted(statuses.items())))
