"""Billing's own metrics. No org, member or invoice labels."""

from prometheus_client import Counter

INVOICES_ISSUED = Counter("billing_invoices_issued_total", "Invoices issued", ["reason"])
INVOICES_PSEUDONYMISED = Counter(
    "billing_invoices_pseudonymised_total", "Invoices whose member link was pseudonymised"
)
