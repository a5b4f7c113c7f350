"""A stand-in for Twilio's Messages API, in the wire format the official SDK uses:

- POST /2010-04-01/Accounts/{AccountSid}/Messages.json: HTTP Basic (account SID, auth
  token), form fields To, From, Body, StatusCallback; 201 with the message resource JSON
  (sid "SM..."); Twilio's error JSON with status 400: 21610 for a number that sent STOP,
  21211 for an invalid number.
- GET the same path: the list, filtered by To, DateSent, DateSent< and DateSent>.
- DELETE /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json: 204, the message gone (its SID
  recorded in `deleted`); 404 (Twilio's 20404) for a SID it does not hold.

Faults (see Faults): 429 with Retry-After, 503, and accepting a message but answering after
the client's timeout (the message is recorded as sent all the same)."""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from tests.loopback.server import Faults, LoopbackServer, Served

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "loopback-auth-token"
ERRORS = {
    21610: "Attempt to send to unsubscribed recipient",
    21211: "The 'To' number is not a valid phone number.",
}


@dataclass
class SentSms:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str
    created: datetime

    def resource(self, account_sid: str) -> dict[str, Any]:
        stamp = format_datetime(self.created)
        return {
            "account_sid": account_sid,
            "api_version": "2010-04-01",
            "body": self.body,
            "date_created": stamp,
            "date_sent": stamp,
            "date_updated": stamp,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{account_sid}/Messages/{self.sid}/Media.json"
            },
            "to": self.to,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{self.sid}.json",
        }


@dataclass
class TwilioLoopback(Served):
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    faults: Faults = field(default_factory=Faults)
    sent: list[SentSms] = field(default_factory=list)
    calls: int = 0
    lookups: int = 0
    deleted: list[str] = field(default_factory=list)
    clients: list[Any] = field(default_factory=list)  # SDK clients to close with the server

    def __post_init__(self) -> None:
        app = web.Application()
        path = "/2010-04-01/Accounts/{account_sid}/Messages.json"
        app.router.add_post(path, self._create)
        app.router.add_get(path, self._list)
        app.router.add_delete(
            "/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json", self._delete
        )
        self.server = LoopbackServer(app)

    def sent_to(self, number: str) -> list[SentSms]:
        return [m for m in self.sent if m.to == number]

    def _check(self, request: web.Request) -> web.Response | None:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return self._error(401, 20003, "Authenticate")
        if request.match_info["account_sid"] != self.account_sid:
            return self._error(404, 20404, "The requested resource was not found")
        return None

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        return web.json_response(
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            status=status,
        )

    async def _create(self, request: web.Request) -> web.Response:
        self.calls += 1
        refused = self._check(request)
        if refused is not None:
            return refused
        if self.faults.take_throttle():
            response = self._error(429, 20429, "Too Many Requests")
            response.headers["Retry-After"] = f"{self.faults.retry_after_s:g}"
            return response
        if self.faults.take_server_error():
            return self._error(503, 20500, "Service unavailable")
        form = await request.post()
        to, body = str(form.get("To", "")), str(form.get("Body", ""))
        if not to:
            return self._error(400, 21604, "A 'To' phone number is required.")
        if not form.get("From"):
            return self._error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return self._error(400, 21602, "Message body is required.")
        if not to.startswith("+") or not to[1:].isdigit() or to in self.faults.invalid:
            return self._error(400, 21211, ERRORS[21211])
        if to in self.faults.opted_out:
            return self._error(400, 21610, ERRORS[21610])
        sms = SentSms(
            sid="SM" + uuid.uuid4().hex,
            to=to,
            from_=str(form["From"]),
            body=body,
            status_callback=str(form.get("StatusCallback", "")),
            created=datetime.now(UTC).replace(microsecond=0),
        )
        self.sent.append(sms)
        if self.faults.take_slow():
            await asyncio.sleep(self.faults.delay_s)
        return web.json_response(sms.resource(self.account_sid), status=201)

    async def _delete(self, request: web.Request) -> web.Response:
        self.calls += 1
        refused = self._check(request)
        if refused is not None:
            return refused
        if self.faults.take_server_error():
            return self._error(503, 20500, "Service unavailable")
        sid = request.match_info["sid"]
        if not any(m.sid == sid for m in self.sent):
            return self._error(404, 20404, "The requested resource was not found")
        self.sent = [m for m in self.sent if m.sid != sid]
        self.deleted.append(sid)
        return web.Response(status=204)

    async def _list(self, request: web.Request) -> web.Response:
        self.lookups += 1
        refused = self._check(request)
        if refused is not None:
            return refused
        query = request.query
        found = [m for m in self.sent if not query.get("To") or m.to == query["To"]]
        for key, keep in (
            ("DateSent", lambda m, at: m.created.date() == at.date()),
            ("DateSent<", lambda m, at: m.created <= at),
            ("DateSent>", lambda m, at: m.created >= at),
        ):
            if query.get(key):
                at = _parse(query[key])
                found = [m for m in found if keep(m, at)]
        found.sort(key=lambda m: m.created, reverse=True)
        size = int(query.get("PageSize", "50"))
        uri = request.path
        return web.json_response(
            {
                "messages": [m.resource(self.account_sid) for m in found[:size]],
                "end": max(min(size, len(found)) - 1, 0),
                "first_page_uri": f"{uri}?PageSize={size}&Page=0",
                "next_page_uri": None,
                "page": 0,
                "page_size": size,
                "previous_page_uri": None,
                "start": 0,
                "uri": f"{uri}?PageSize={size}&Page=0",
            }
        )


def _parse(value: str) -> datetime:
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


async def _serve() -> None:
    server = TwilioLoopback()
    print(await server.start(), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":  # a server in its own process: python -m tests.loopback.twilio
    asyncio.run(_serve())
