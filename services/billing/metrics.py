"""Billing's own metrics. No org, member or invoice labels."""

from prometheus_client import Counter, Histogram

from services.common.metrics import LATENCY_BUCKETS
from services.common.retention_sweep import SweepMetrics

INVOICES_ISSUED = Counter("billing_invoices_issued_total", "Invoices issued", ["reason"])
INVOICES_PSEUDONYMISED = Counter(
    "billing_invoices_pseudonymised_total", "Invoices whose member link was pseudonymised"
)
DUNNING_STEPS = Counter(
    "billing_dunning_steps_total", "Dunning steps taken on open invoices", ["step"]
)
RENEWALS_ISSUED = Counter("billing_renewals_issued_total", "Renewal invoices issued")
RETENTION_DELETED = Counter(
    "billing_retention_deleted_total",
    "Records deleted by the retention sweep once their bookkeeping period passed",
    ["record"],
)
# The retention sweep under each org's profile (services/common/retention_sweep.py).
RETENTION = SweepMetrics("billing")

# Stripe: operation is our name for the call (create_customer, start_payment, ...), outcome
# "ok" or the SDK's error class; event type is Stripe's for handled types, else "other".
STRIPE_REQUESTS = Counter(
    "billing_stripe_requests_total", "Calls to Stripe", ["operation", "outcome"]
)
STRIPE_REQUEST_DURATION = Histogram(
    "billing_stripe_request_duration_seconds",
    "Latency of calls to Stripe, retries and rate-limit waits included",
    ["operation"],
    buckets=LATENCY_BUCKETS,
)
STRIPE_EVENTS = Counter(
    "billing_stripe_events_total", "Stripe webhook events by outcome", ["type", "outcome"]
)
STRIPE_WEBHOOKS_REJECTED = Counter(
    "billing_stripe_webhooks_rejected_total", "Webhook requests refused", ["reason"]
)
VOID_PAYMENT_CANCELLATIONS = Counter(
    "billing_void_payment_cancellations_total",
    "Started payments of voided invoices made unpayable at Stripe, by outcome (canceled; "
    "paid_first: the payer was quicker; failed: left for the reconcile pass to retry)",
    ["outcome"],
)
PAYMENTS_ON_CLOSED_INVOICES = Counter(
    "billing_payments_on_closed_invoices_total",
    "Payments that succeeded on a void or already paid invoice: booked, the invoice kept as "
    "it was; the org refunds them",
)
