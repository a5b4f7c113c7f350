"""Billing's own metrics."""

from prometheus_client import Counter

INVOICES_ISSUED = Counter("billing_invoices_issued_total", "Invoices issued")
INVOICES_PSEUDONYMISED = Counter(
    "billing_invoices_pseudonymised_total", "Invoices whose member link was pseudonymised"
)
