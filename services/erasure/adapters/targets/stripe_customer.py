"""Stripe: billing's own Erase already deletes the member's Stripe customer (DELETE
/v1/customers/{id}, before it pseudonymises the invoices) and says so in its receipt. This
target records that answer instead of calling Stripe a second time; it comes after billing."""

from __future__ import annotations

from services.erasure.domain.certificate import DELETED, NOTHING_HELD
from services.erasure.domain.outcomes import TargetResult
from services.erasure.service_layer.targets import TargetJob

BILLING = "billing"
# The category billing's receipt gives the deleted Stripe customer.
STRIPE_CUSTOMER_CATEGORY = "payment-provider-customer"


class StripeCustomerTarget:
    async def erase(self, job: TargetJob) -> TargetResult:
        billing = job.earlier[BILLING]
        if any(r["category"] == STRIPE_CUSTOMER_CATEGORY for r in billing.removed):
            return TargetResult(
                removed=[
                    {
                        "category": "customer",
                        "description": "the Stripe customer with the member's contact details",
                        "count": 1,
                    }
                ],
                note="deleted at Stripe by billing's Erase; not called twice",
                action=DELETED,
            )
        return TargetResult(note="billing held no Stripe customer", action=NOTHING_HELD)
