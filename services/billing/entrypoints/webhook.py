"""POST /stripe/webhook: verify the signature on the raw body, store the event by its id,
answer at once; Payments processes stored events in the background.

Refused (400, JSON reason, nothing stored): no or forged signature, a timestamp outside the
tolerance, a body over the limit, anything that is not a Stripe event in JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust
import stripe
from faust.web import Request, Response, View

from services.billing.adapters.stripe_store import StripeStore
from services.billing.metrics import STRIPE_EVENTS, STRIPE_WEBHOOKS_REJECTED
from services.billing.service_layer.stripe_events import HANDLED, essentials
from services.common.db.engine import Database
from services.common.http import add_route, measured
from services.common.logging import get_logger
from services.common.metrics import ServiceMetrics

log = get_logger(__name__)

PATH = "/stripe/webhook"
CHUNK = 64 * 1024


class Rejected(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class StripeWebhook:
    def __init__(
        self,
        database: Database,
        secrets: list[str],
        *,
        tolerance_s: int = 300,
        max_body_bytes: int = 256 * 1024,
        on_stored: Callable[[], None] = lambda: None,
    ) -> None:
        self.database = database
        self.secrets = [s for s in secrets if s]  # several while a secret is rotated
        self.tolerance_s = tolerance_s
        self.max_body_bytes = max_body_bytes
        self.on_stored = on_stored
        if not self.secrets:
            log.warning("stripe_webhook_unconfigured", hint="set STRIPE_WEBHOOK_SECRETS")

    async def handle(self, request: Request) -> tuple[int, dict[str, Any]]:
        try:
            body = await self._read(request)
            self._verify(body, request.headers.get("Stripe-Signature"))
            event = _parse(body)
            kept = _kept(event)
        except Rejected as exc:
            STRIPE_WEBHOOKS_REJECTED.labels(exc.reason).inc()
            return 400, {"error": exc.reason}
        stored = await self._store(event, kept)
        label = event["type"] if event["type"] in HANDLED else "other"
        if not stored:
            STRIPE_EVENTS.labels(label, "duplicate").inc()
            return 200, {"received": True, "duplicate": True}
        self.on_stored()
        return 200, {"received": True}

    async def _read(self, request: Request) -> bytes:
        declared = request.content_length  # type: ignore[attr-defined]
        if declared is not None and declared > self.max_body_bytes:
            raise Rejected("body_too_large")
        body = bytearray()
        # Read in chunks and stop at the limit: a lying or absent Content-Length cannot make
        # us buffer more than the limit.
        async for chunk in request.content.iter_chunked(CHUNK):  # type: ignore[attr-defined]
            body += chunk
            if len(body) > self.max_body_bytes:
                raise Rejected("body_too_large")
        return bytes(body)

    def _verify(self, body: bytes, header: str | None) -> None:
        if not header:
            raise Rejected("missing_signature")
        if not self.secrets:
            raise Rejected("no_webhook_secret_configured")
        try:
            payload = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Rejected("malformed_body") from exc
        reason = "signature_mismatch"
        for secret in self.secrets:
            try:
                stripe.WebhookSignature.verify_header(payload, header, secret, self.tolerance_s)
                return
            except stripe.SignatureVerificationError as exc:
                # The signature is checked before the timestamp: "tolerance" means it matched.
                if "tolerance" in str(exc):
                    reason = "timestamp_expired"
        raise Rejected(reason)

    async def _store(self, event: dict[str, Any], kept: dict[str, Any]) -> bool:
        obj = event["data"]["object"]
        async with self.database.transaction() as session:
            return await StripeStore(session).add_event(
                {
                    "event_id": event["id"],
                    "type": event["type"][:64],
                    "object_id": str(obj.get("id") or "")[:64],
                    "created": int(event.get("created") or 0),
                    "data": json.dumps(kept),
                    "received_at": datetime.now(UTC),
                    "attempts": 0,
                }
            )


def _parse(body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep to parse
        raise Rejected("malformed_json") from exc
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and 0 < len(event["id"]) <= 64
        and isinstance(event.get("type"), str)
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
        and isinstance(event.get("created", 0), int)
        and 0 <= event.get("created", 0) < 2**63  # a column of 64-bit integers
    ):
        raise Rejected("not_a_stripe_event")
    return event


def _kept(event: dict[str, Any]) -> dict[str, Any]:
    """The fields billing acts on (stripe_events.essentials). An object whose fields are not
    of Stripe's types (metadata that is not an object, an amount that is not a whole number, an
    id that is a list) is refused here: stored, it would fail its processing on every retry."""
    try:
        kept = essentials(event["type"], event["data"]["object"])
    except (AttributeError, TypeError, ValueError) as exc:
        raise Rejected("malformed_object") from exc
    refunds = kept.get("refunds") or []
    if not all(_well_typed(fields) for fields in [kept, *refunds]):
        raise Rejected("malformed_object")
    return kept


def _well_typed(fields: dict[str, Any]) -> bool:
    for name, value in fields.items():
        if name in ("metadata", "refunds"):  # strings by construction; checked apart
            continue
        if name == "amount":
            if type(value) is not int or not 0 <= value < 2**63:
                return False
        elif value is not None and not isinstance(value, str):
            return False
    return True


def add_webhook_route(app: faust.App, metrics: ServiceMetrics, webhook: StripeWebhook) -> None:
    async def receive(view: View, request: Request) -> Response:
        status, reply = await webhook.handle(request)
        return view.json(reply, status=status)

    add_route(app, PATH, "post", measured(metrics, PATH, receive))
