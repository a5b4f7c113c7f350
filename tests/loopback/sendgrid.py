"""A stand-in for SendGrid's v3 API, speaking the wire format the official SDK uses:

- POST /v3/mail/send: Bearer key, the JSON body Mail.get() builds; 202, empty body and an
  X-Message-Id header; 400 with SendGrid's error JSON for an invalid address. Every accepted
  message is recorded (recipient, subject, custom_args, headers, asm).
- GET /v3/messages?query=...&limit=N: the Email Activity API, {"messages": [...]}, for the
  two queries the services make: unique_args['message_id']="<id>", and msg_id LIKE "<id>%"
  terms joined by OR (a message's msg_id starts with the X-Message-Id its send answered).
- POST /v3/recipients/erasejob: the Recipients' Data Erasure API, {"email_addresses": [...]}
  (1 to 5000); 202 with {"job_id": ...}; the addresses are recorded in `erased`. Like
  SendGrid, it deletes later: `erase_delay_s` after the job (never, if infinite), every
  message sent to them is dropped, so the activity stops listing them. SendGrid documents no
  endpoint to ask after a job, so there is none here either.
- GET /_loopback/sent?since=<i> (not SendGrid's): the accepted messages from the i-th on, each
  its recipients and arrival time, {"sent": [{"to": [...], "at": <epoch s>}]}; for a benchmark
  that runs this server in a process of its own.

Faults (see Faults): 429 with Retry-After, 503, and accepting a message but answering after
the client's timeout (the message is recorded as sent all the same)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.loopback.server import Faults, LoopbackServer, Served

API_KEY = "SG.loopback-test-key"
_QUERY = re.compile(r"""unique_args\['message_id'\]\s*=\s*"([^"]+)\"""")
_MSG_ID_LIKE = re.compile(r"""^msg_id LIKE "([^"%]*)%"$""")


@dataclass
class SentEmail:
    msg_id: str
    to: list[str]
    from_email: str
    subject: str
    custom_args: dict[str, str]
    headers: dict[str, str]
    asm: dict[str, Any] | None
    content: list[dict[str, str]]
    received_at: float = field(default_factory=time.time)  # epoch seconds

    @property
    def message_id(self) -> str:
        return self.custom_args.get("message_id", "")


@dataclass
class SendGridLoopback(Served):
    api_key: str = API_KEY
    faults: Faults = field(default_factory=Faults)
    sent: list[SentEmail] = field(default_factory=list)
    calls: int = 0  # mail/send requests, answered or not
    send_ports: list[int] = field(default_factory=list)  # each one's client port: its connection
    lookups: int = 0
    erased: list[str] = field(default_factory=list)  # addresses erase jobs were asked for
    erase_delay_s: float = 0.0  # how long an erase job takes; infinite: it never finishes
    erase_jobs: list[tuple[float, set[str]]] = field(default_factory=list)  # (due, addresses)

    def __post_init__(self) -> None:
        app = web.Application()
        app.router.add_post("/v3/mail/send", self._send)
        app.router.add_get("/v3/messages", self._activity)
        app.router.add_post("/v3/recipients/erasejob", self._erase_job)
        app.router.add_get("/_loopback/sent", self._sent_since)
        self.server = LoopbackServer(app)

    def sent_for(self, message_id: str) -> list[SentEmail]:
        return [m for m in self.sent if m.message_id == message_id]

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    @staticmethod
    def _error(status: int, message: str, field_name: str | None = None) -> web.Response:
        return web.json_response(
            {"errors": [{"message": message, "field": field_name, "help": None}]}, status=status
        )

    async def _send(self, request: web.Request) -> web.Response:
        self.calls += 1
        self.send_ports.append(request.transport.get_extra_info("peername")[1])  # type: ignore[union-attr]
        if not self._authorised(request):
            return self._error(401, "The provided authorization grant is invalid")
        if self.faults.take_throttle():
            return web.json_response(
                {"errors": [{"message": "too many requests"}]},
                status=429,
                headers={"Retry-After": f"{self.faults.retry_after_s:g}"},
            )
        if self.faults.take_server_error():
            return self._error(503, "service unavailable")
        if request.content_type != "application/json":
            return self._error(415, "Content-Type should be application/json")
        body = await request.json()
        problem = _shape_problem(body)
        if problem:
            return self._error(400, problem)
        personalization = body["personalizations"][0]
        to = [t["email"] for t in personalization["to"]]
        if any(address in self.faults.invalid or "@" not in address for address in to):
            return self._error(
                400, "Does not contain a valid address.", "personalizations.0.to.0.email"
            )
        msg_id = uuid.uuid4().hex[:22]
        self.sent.append(
            SentEmail(
                msg_id=msg_id,
                to=to,
                from_email=body["from"]["email"],
                subject=personalization.get("subject") or body.get("subject", ""),
                custom_args={
                    **body.get("custom_args", {}),
                    **personalization.get("custom_args", {}),
                },
                headers={**body.get("headers", {}), **personalization.get("headers", {})},
                asm=body.get("asm"),
                content=body["content"],
            )
        )
        if self.faults.take_slow():
            await asyncio.sleep(self.faults.delay_s)  # accepted; the client gave up by now
        return web.Response(status=202, headers={"X-Message-Id": msg_id})

    async def _activity(self, request: web.Request) -> web.Response:
        self.lookups += 1
        if not self._authorised(request):
            return self._error(401, "The provided authorization grant is invalid")
        self._finish_erase_jobs()
        query = request.query.get("query", "")
        match = _QUERY.search(query)
        likes = [_MSG_ID_LIKE.match(term.strip()) for term in query.split(" OR ")]
        if match is not None:
            wanted = [m for m in self.sent if m.message_id == match.group(1)]
        elif likes and all(likes):
            prefixes = tuple(like.group(1) for like in likes if like)
            wanted = [m for m in self.sent if m.msg_id.startswith(prefixes)]
        else:
            return self._error(400, "invalid query")
        limit = int(request.query.get("limit", "10"))
        found = [
            {
                "msg_id": m.msg_id,
                "from_email": m.from_email,
                "subject": m.subject,
                "to_email": m.to[0],
                "status": "processing",
                "opens_count": 0,
                "clicks_count": 0,
            }
            for m in wanted
        ]
        return web.json_response({"messages": found[:limit]})

    def _finish_erase_jobs(self) -> None:
        now = time.monotonic()
        done = set().union(*(addresses for due, addresses in self.erase_jobs if due <= now))
        if done:
            self.erase_jobs = [(due, a) for due, a in self.erase_jobs if due > now]
            self.sent = [m for m in self.sent if not set(m.to) & done]

    async def _erase_job(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(401, "Failed to authenticate", "")
        if self.faults.take_server_error():
            return self._error(500, "Internal Server Error", "")
        body = await request.json()
        addresses = body.get("email_addresses") if isinstance(body, dict) else None
        if not isinstance(addresses, list) or not 1 <= len(addresses) <= 5000:
            return self._error(400, "between 1 and 5000 email_addresses", "email_addresses")
        for address in addresses:
            if not isinstance(address, str) or "@" not in address:
                return self._error(400, f"Email_address {address} is not valid", "email_addresses")
        self.erased.extend(addresses)
        self.erase_jobs.append((time.monotonic() + self.erase_delay_s, set(addresses)))
        self._finish_erase_jobs()
        return web.json_response({"job_id": str(uuid.uuid4())}, status=202)

    async def _sent_since(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        self._finish_erase_jobs()
        return web.json_response(
            {"sent": [{"to": m.to, "at": m.received_at} for m in self.sent[since:]]}
        )


def _shape_problem(body: Any) -> str | None:
    """What SendGrid would refuse in the request's shape; None when it is well formed."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        return "The personalizations field is required"
    for p in personalizations:
        if not isinstance(p.get("to"), list) or not p["to"]:
            return "The to array is required for all personalization objects"
    if not isinstance(body.get("from"), dict) or "email" not in body["from"]:
        return "The from object must be provided for every email send"
    if not (body.get("subject") or all(p.get("subject") for p in personalizations)):
        return "The subject is required"
    content = body.get("content")
    if not isinstance(content, list) or not content:
        return "Unless a valid template_id is provided, the content parameter is required"
    if any(not c.get("type") or "value" not in c for c in content):
        return "Each content object needs a type and a value"
    if any(not isinstance(v, str) for v in body.get("custom_args", {}).values()):
        return "custom_args values must be strings"
    return None


async def _serve(port: int) -> None:
    import sys

    server = SendGridLoopback()
    base_url = await server.server.start(port)
    print(base_url, flush=True)
    sys.stdout.flush()
    await asyncio.Event().wait()


if __name__ == "__main__":  # a server in its own process: python -m tests.loopback.sendgrid
    asyncio.run(_serve(0))
