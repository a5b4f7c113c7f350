"""The providers' delivery webhooks.

POST /sendgrid/events: SendGrid's signed Event Webhook, a JSON batch. The signature (ECDSA
P-256 over the timestamp header + the raw body, checked with the SendGrid SDK's EventWebhook)
and the timestamp (within the tolerance) are verified before anything is read.

POST /twilio/status (status callbacks, our message id in the query string) and
POST /twilio/inbound (incoming SMS): X-Twilio-Signature, checked with the Twilio SDK's
RequestValidator over the public URL Twilio called (PUBLIC_BASE_URL + path + query) and the
form fields.

Refused requests change nothing: 403 (JSON reason) for a missing, forged or expired
signature or an unconfigured secret; 400 for a body too large or not what the provider
sends. 503 when membership could not take a consent withdrawal: the provider retries.
"""

from __future__ import annotations

import binascii
import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import faust
import grpc
from faust.web import Request, Response, View
from multidict import MultiDict
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from services.common.http import add_route, measured
from services.common.logging import get_logger
from services.common.metrics import ServiceMetrics
from services.notify.domain.delivery_events import Malformed, is_opt_out, sendgrid_events
from services.notify.metrics import WEBHOOKS_REJECTED
from services.notify.service_layer.delivery_status import DeliveryStatus

log = get_logger(__name__)

SENDGRID_PATH = "/sendgrid/events"
TWILIO_STATUS_PATH = "/twilio/status"
TWILIO_INBOUND_PATH = "/twilio/inbound"
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
TWILIO_SIGNATURE = "X-Twilio-Signature"
CHUNK = 64 * 1024
EMPTY_TWIML = str(MessagingResponse())


class Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


async def _read(request: Request, limit: int) -> bytes:
    declared = request.content_length  # type: ignore[attr-defined]
    if declared is not None and declared > limit:
        raise Rejected(400, "body_too_large")
    body = bytearray()
    async for chunk in request.content.iter_chunked(CHUNK):  # type: ignore[attr-defined]
        body += chunk
        if len(body) > limit:
            raise Rejected(400, "body_too_large")
    return bytes(body)


class SendGridEvents:
    def __init__(
        self,
        delivery: DeliveryStatus,
        public_key: str,
        *,
        tolerance_s: int = 300,
        max_body_bytes: int = 1024 * 1024,
    ) -> None:
        self.delivery = delivery
        # Refuses a malformed key at start, not at the first event.
        self.verifier = EventWebhook(public_key) if public_key else None
        self.tolerance_s = tolerance_s
        self.max_body_bytes = max_body_bytes
        if self.verifier is None:
            log.warning("sendgrid_webhook_unconfigured", hint="set SENDGRID_WEBHOOK_PUBLIC_KEY")

    async def handle(self, request: Request) -> tuple[int, dict[str, Any]]:
        try:
            body = await _read(request, self.max_body_bytes)
            self._verify(body, request.headers.get(SIGNATURE), request.headers.get(TIMESTAMP))
            try:
                events = sendgrid_events(json.loads(body), datetime.now(UTC))
            # json's and Malformed; RecursionError: nested too deep for json to parse
            except (ValueError, RecursionError) as exc:
                reason = "malformed_json" if not isinstance(exc, Malformed) else "not_events"
                raise Rejected(400, reason) from exc
        except Rejected as exc:
            WEBHOOKS_REJECTED.labels(SENDGRID_PATH, exc.reason).inc()
            return exc.status, {"error": exc.reason}
        try:
            outcomes = await self.delivery.sendgrid(events)
        except grpc.aio.AioRpcError as exc:
            log.warning("consent_withdrawal_failed", code=exc.code().name)
            return 503, {"error": "membership_unavailable"}
        return 200, {"received": len(events), **outcomes}

    def _verify(self, body: bytes, signature: str | None, timestamp: str | None) -> None:
        if not signature or not timestamp:
            raise Rejected(403, "missing_signature")
        if self.verifier is None:
            raise Rejected(403, "no_public_key_configured")
        try:
            valid = self.verifier.verify_signature(body.decode("utf-8"), signature, timestamp)
        except (UnicodeDecodeError, binascii.Error, ValueError):
            valid = False
        if not valid:
            raise Rejected(403, "signature_mismatch")
        # Checked after the signature, so "expired" means it was SendGrid's, once.
        try:
            age = time.time() - int(timestamp)
        except ValueError:
            raise Rejected(403, "signature_mismatch") from None
        if abs(age) > self.tolerance_s:
            raise Rejected(403, "timestamp_expired")


class TwilioCallbacks:
    def __init__(
        self,
        delivery: DeliveryStatus,
        auth_token: str,
        public_base_url: str,
        *,
        max_body_bytes: int = 64 * 1024,
    ) -> None:
        self.delivery = delivery
        self.validator = RequestValidator(auth_token) if auth_token else None
        self.public_base_url = public_base_url.rstrip("/")
        self.max_body_bytes = max_body_bytes
        if self.validator is None:
            log.warning("twilio_webhook_unconfigured", hint="set TWILIO_AUTH_TOKEN")

    async def _form(self, request: Request) -> MultiDict[str]:
        body = await _read(request, self.max_body_bytes)
        signature = request.headers.get(TWILIO_SIGNATURE)
        if not signature:
            raise Rejected(403, "missing_signature")
        if self.validator is None:
            raise Rejected(403, "no_auth_token_configured")
        try:
            form = MultiDict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError as exc:
            raise Rejected(403, "signature_mismatch") from exc
        # The URL as Twilio called it: behind a proxy, this service's own view of the host
        # and scheme would differ.
        url = self.public_base_url + request.raw_path  # type: ignore[attr-defined]
        if not self.validator.validate(url, form, signature):
            raise Rejected(403, "signature_mismatch")
        return form

    async def status(self, request: Request) -> tuple[int, dict[str, Any]]:
        try:
            form = await self._form(request)
            sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
            if not sid or not status:
                raise Rejected(400, "not_a_status_callback")
        except Rejected as exc:
            WEBHOOKS_REJECTED.labels(TWILIO_STATUS_PATH, exc.reason).inc()
            return exc.status, {"error": exc.reason}
        outcome = await self.delivery.twilio_status(
            request.query.get("message_id", ""),  # type: ignore[attr-defined]
            sid,
            status,
            form.get("ErrorCode", ""),
            form.get("To", ""),
        )
        return 200, {"outcome": outcome}

    async def inbound(self, request: Request) -> tuple[int, dict[str, Any] | str]:
        try:
            form = await self._form(request)
            number = form.get("From", "")
            if not number:
                raise Rejected(400, "not_an_inbound_message")
        except Rejected as exc:
            WEBHOOKS_REJECTED.labels(TWILIO_INBOUND_PATH, exc.reason).inc()
            return exc.status, {"error": exc.reason}
        if is_opt_out(form.get("Body", "")):
            try:
                await self.delivery.sms_opt_out(number)
            except grpc.aio.AioRpcError as exc:
                log.warning("consent_withdrawal_failed", code=exc.code().name)
                return 503, {"error": "membership_unavailable"}
        return 200, EMPTY_TWIML  # no auto-reply: Twilio answers STOP itself


def add_webhook_routes(
    app: faust.App, metrics: ServiceMetrics, sendgrid: SendGridEvents, twilio: TwilioCallbacks
) -> None:
    async def sendgrid_events_route(view: View, request: Request) -> Response:
        status, reply = await sendgrid.handle(request)
        return view.json(reply, status=status)

    async def twilio_status_route(view: View, request: Request) -> Response:
        status, reply = await twilio.status(request)
        return view.json(reply, status=status)

    async def twilio_inbound_route(view: View, request: Request) -> Response:
        status, reply = await twilio.inbound(request)
        if isinstance(reply, str):
            return view.text(reply, content_type="text/xml", status=status)
        return view.json(reply, status=status)

    for path, handler in (
        (SENDGRID_PATH, sendgrid_events_route),
        (TWILIO_STATUS_PATH, twilio_status_route),
        (TWILIO_INBOUND_PATH, twilio_inbound_route),
    ):
        add_route(app, path, "post", measured(metrics, path, handler))
