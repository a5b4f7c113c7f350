"""What paying, refunding and cancelling share: the invoice they act on, Stripe refusing a
request as the caller's FAILED_PRECONDITION and Stripe away as UNAVAILABLE, and the attempts'
idempotency keys."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import stripe
from sqlalchemy.engine import Row

from services.billing.adapters.repository import Repository
from services.common.db.engine import Database
from services.common.errors import FailedPrecondition, NotFound, Unavailable

# Stripe throttling (429), failing (5xx) or out of reach, or our deadline passing first.
STRIPE_OUTAGES = (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError, TimeoutError)


async def invoice_of(database: Database, org_id: str, invoice_id: str) -> Row:
    """The org's invoice, or NOT_FOUND (another org's is not found either)."""
    async with database.sessions() as db:
        invoice = await Repository(db).invoice(org_id, invoice_id)
    if invoice is None:
        raise NotFound(f"invoice {invoice_id} not found")
    return invoice


@contextlib.contextmanager
def refused_as_precondition() -> Iterator[None]:
    """Stripe refusing a request (e.g. a charge refunded already) is the caller's
    FAILED_PRECONDITION, told by Stripe's error code only; outages stay errors."""
    try:
        yield
    except (stripe.InvalidRequestError, stripe.CardError) as exc:
        raise FailedPrecondition(f"Stripe refused: {exc.code or 'invalid_request'}") from exc


@contextlib.contextmanager
def stripe_outage_as_unavailable() -> Iterator[None]:
    """Stripe away is the caller's UNAVAILABLE: the same request may be sent again (what was
    committed before Stripe was called makes the retry reuse the same idempotency key)."""
    try:
        yield
    except STRIPE_OUTAGES as exc:
        raise Unavailable(
            f"Stripe is unavailable ({type(exc).__name__}); try again shortly"
        ) from exc


def payment_key(invoice_id: str, attempt: int) -> str:
    return f"invoice:{invoice_id}:attempt:{attempt}"


def cancel_key(invoice_id: str, attempt: int) -> str:
    return f"invoice:{invoice_id}:cancel:{attempt}"


def customer_key(org_id: str, member_id: str, generation: int) -> str:
    return f"customer:{org_id}:{member_id}:{generation}"
