"""Stripe behind one interface. Production takes card payments through Checkout Sessions; the
local stack and tests through PaymentIntents (localstripe has no Checkout). Every call goes
through a client-side rate limiter, the SDK's own retries, a deadline and metrics.

What we send Stripe: amounts, our ids in metadata (invoice_id, org_id) and, for a customer,
the contact details membership gave us a moment before. Nothing else personal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import stripe
from aiolimiter import AsyncLimiter

from services.billing.metrics import STRIPE_REQUEST_DURATION, STRIPE_REQUESTS

T = TypeVar("T")


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    phone: str


@dataclass(frozen=True)
class PaymentSession:
    """What the payer needs: a client secret (PaymentIntents) or a URL (Checkout)."""

    payment_intent_id: str  # "" while Checkout has not made one yet
    client_secret: str
    url: str
    status: str
    checkout_session_id: str = ""  # Checkout only


# What cancel_payment answers: nobody can pay any more, or somebody paid first.
CANCELED = "canceled"
PAID_ALREADY = "succeeded"


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    amount_ore: int
    status: str  # Stripe's: pending, succeeded, failed, ...


class PaymentGateway(Protocol):
    async def close(self) -> None:
        """Closes the HTTP session; called once, when the service stops."""
        ...

    async def create_customer(
        self, contact: Contact, metadata: dict[str, str], idempotency_key: str
    ) -> str: ...

    async def delete_customer(self, customer_id: str) -> bool:
        """False when Stripe no longer knows the customer."""
        ...

    async def start_payment(
        self,
        *,
        customer_id: str,
        amount_ore: int,
        currency: str,
        description: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> PaymentSession: ...

    async def payment(self, payment_intent_id: str) -> PaymentSession: ...

    async def cancel_payment(
        self, *, payment_intent_id: str, checkout_session_id: str, idempotency_key: str
    ) -> str:
        """Makes a started payment unpayable: CANCELED, or PAID_ALREADY when the payer was
        first. Stripe being unreachable raises."""
        ...

    async def refund(
        self, payment_intent_id: str, amount_ore: int, metadata: dict[str, str], key: str
    ) -> RefundResult: ...

    async def refunds_of_charge(self, charge_id: str) -> list[dict[str, Any]]: ...

    async def recent_payment_intents(self, since: int) -> list[dict[str, Any]]:
        """PaymentIntents created at or after `since` (epoch seconds), as plain dicts."""
        ...


@dataclass(frozen=True)
class StripeConfig:
    api_key: str
    api_base: str
    requests_per_s: float = 20.0
    max_network_retries: int = 2
    request_timeout_s: float = 10.0
    deadline_s: float = 30.0
    success_url: str = ""
    cancel_url: str = ""


class _StripeCalls:
    """The client and the measured, rate-limited call every operation goes through."""

    def __init__(self, config: StripeConfig) -> None:
        self.config = config
        self._http = stripe.AIOHTTPClient(timeout=config.request_timeout_s)
        self.client = stripe.StripeClient(
            config.api_key,
            base_addresses={"api": config.api_base},
            max_network_retries=config.max_network_retries,
            http_client=self._http,
        )
        self.limiter = AsyncLimiter(config.requests_per_s, 1.0)

    async def close(self) -> None:
        await self._http.close_async()

    async def call(self, operation: str, make: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        outcome = "ok"
        try:
            async with self.limiter:  # a burst waits its turn instead of meeting a 429
                return await asyncio.wait_for(make(), self.config.deadline_s)
        except TimeoutError:
            outcome = "deadline"
            raise
        except stripe.StripeError as exc:
            outcome = type(exc).__name__
            raise
        finally:
            STRIPE_REQUESTS.labels(operation, outcome).inc()
            STRIPE_REQUEST_DURATION.labels(operation).observe(time.perf_counter() - started)

    # --- shared by both flows -----------------------------------------------------------

    async def create_customer(
        self, contact: Contact, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        params: dict[str, Any] = {"metadata": metadata}
        for field in ("name", "email", "phone"):
            if value := getattr(contact, field):
                params[field] = value
        customer = await self.call(
            "create_customer",
            lambda: self.client.v1.customers.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            ),
        )
        return str(customer.id)

    async def delete_customer(self, customer_id: str) -> bool:
        try:
            await self.call(
                "delete_customer", lambda: self.client.v1.customers.delete_async(customer_id)
            )
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return False
            raise
        return True

    async def payment(self, payment_intent_id: str) -> PaymentSession:
        intent = await self.call(
            "retrieve_payment_intent",
            lambda: self.client.v1.payment_intents.retrieve_async(payment_intent_id),
        )
        return PaymentSession(intent.id, intent.client_secret or "", "", intent.status)

    async def cancel_payment(
        self, *, payment_intent_id: str, checkout_session_id: str, idempotency_key: str
    ) -> str:
        if not payment_intent_id:
            return CANCELED  # nothing at Stripe a payer could complete
        try:
            await self.call(
                "cancel_payment",
                lambda: self.client.v1.payment_intents.cancel_async(
                    payment_intent_id, options={"idempotency_key": idempotency_key}
                ),
            )
            return CANCELED
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return CANCELED  # Stripe no longer knows it: nobody can pay it
            # Refused: it is canceled already, or it succeeded (or is processing) meanwhile.
            status = (await self.payment(payment_intent_id)).status
            if status == CANCELED:
                return CANCELED
            if status in (PAID_ALREADY, "processing"):
                return PAID_ALREADY
            raise

    async def refund(
        self, payment_intent_id: str, amount_ore: int, metadata: dict[str, str], key: str
    ) -> RefundResult:
        refund = await self.call(
            "create_refund",
            lambda: self.client.v1.refunds.create_async(
                {"payment_intent": payment_intent_id, "amount": amount_ore, "metadata": metadata},
                {"idempotency_key": key},
            ),
        )
        return RefundResult(refund.id, int(refund.amount), str(refund.status))

    async def refunds_of_charge(self, charge_id: str) -> list[dict[str, Any]]:
        page = await self.call(
            "list_refunds",
            lambda: self.client.v1.refunds.list_async({"charge": charge_id, "limit": 100}),
        )
        return [r.to_dict() for r in page.data]

    async def recent_payment_intents(self, since: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 100, "created": {"gte": since}}
        while True:
            try:
                page = await self._list_intents(params)
            except stripe.InvalidRequestError:
                if "created" not in params:
                    raise
                # localstripe refuses the created filter: list everything, filter here.
                params.pop("created")
                continue
            found.extend(pi.to_dict() for pi in page.data if int(pi.created) >= since)
            if not page.has_more or not page.data:
                return found
            params["starting_after"] = page.data[-1].id

    async def _list_intents(self, params: dict[str, Any]) -> Any:
        return await self.call(
            "list_payment_intents",
            lambda: self.client.v1.payment_intents.list_async(params),  # type: ignore[arg-type]
        )


class PaymentIntentsGateway(_StripeCalls):
    """The payer's page confirms the PaymentIntent with Stripe.js and the client secret."""

    async def start_payment(
        self,
        *,
        customer_id: str,
        amount_ore: int,
        currency: str,
        description: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> PaymentSession:
        intent = await self.call(
            "start_payment",
            lambda: self.client.v1.payment_intents.create_async(
                {
                    "amount": amount_ore,
                    "currency": currency.lower(),
                    "customer": customer_id,
                    "metadata": metadata,
                    "payment_method_types": ["card"],
                },
                {"idempotency_key": idempotency_key},
            ),
        )
        return PaymentSession(intent.id, intent.client_secret or "", "", intent.status)


class CheckoutGateway(_StripeCalls):
    """Stripe's hosted page collects the card; its PaymentIntent carries our metadata, which
    is how the webhook finds the invoice (the PaymentIntent may only exist after payment)."""

    async def start_payment(
        self,
        *,
        customer_id: str,
        amount_ore: int,
        currency: str,
        description: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> PaymentSession:
        session = await self.call(
            "start_payment",
            lambda: self.client.v1.checkout.sessions.create_async(
                {
                    "mode": "payment",
                    "customer": customer_id,
                    "line_items": [
                        {
                            "quantity": 1,
                            "price_data": {
                                "currency": currency.lower(),
                                "unit_amount": amount_ore,
                                "product_data": {"name": description},
                            },
                        }
                    ],
                    "metadata": metadata,
                    "payment_intent_data": {"metadata": metadata},
                    "success_url": self.config.success_url,
                    "cancel_url": self.config.cancel_url,
                },
                {"idempotency_key": idempotency_key},
            ),
        )
        intent = session.payment_intent
        intent_id = intent if isinstance(intent, str) else getattr(intent, "id", "") or ""
        return PaymentSession(
            intent_id, "", session.url or "", str(session.status or "open"), session.id
        )

    async def cancel_payment(
        self, *, payment_intent_id: str, checkout_session_id: str, idempotency_key: str
    ) -> str:
        """Expiring the session makes its page unpayable (and cancels its PaymentIntent)."""
        if not checkout_session_id:
            return await super().cancel_payment(
                payment_intent_id=payment_intent_id,
                checkout_session_id="",
                idempotency_key=idempotency_key,
            )
        try:
            await self.call(
                "cancel_payment",
                lambda: self.client.v1.checkout.sessions.expire_async(
                    checkout_session_id, options={"idempotency_key": idempotency_key}
                ),
            )
            return CANCELED
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return CANCELED
            # Only an open session can be expired: it expired already, or it was completed.
            session = await self.call(
                "retrieve_checkout_session",
                lambda: self.client.v1.checkout.sessions.retrieve_async(checkout_session_id),
            )
            if session.status == "expired":
                return CANCELED
            if session.status == "complete":
                return PAID_ALREADY
            raise


def make_gateway(flow: str, config: StripeConfig) -> PaymentGateway:
    if flow == "checkout":
        return CheckoutGateway(config)
    if flow == "payment_intents":
        return PaymentIntentsGateway(config)
    raise ValueError(f"unknown stripe_payment_flow {flow!r}")
