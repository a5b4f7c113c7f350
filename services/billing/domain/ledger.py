"""The payment ledger: append-only entries, signed as what the member owes the org.

An invoice adds its amount; a payment takes it away; a refund gives money back (adds), and
its credit note cancels that much of the claim (takes away); a write-off takes the unpaid
rest away. So a paid invoice nets to 0, and so does a paid and fully refunded one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.billing.domain.invoices import delete_after

INVOICE = "invoice"
PAYMENT = "payment"
REFUND = "refund"
CREDIT_NOTE = "credit_note"
WRITE_OFF = "write_off"
KINDS = (INVOICE, PAYMENT, REFUND, CREDIT_NOTE, WRITE_OFF)
_SIGN = {INVOICE: 1, PAYMENT: -1, REFUND: 1, CREDIT_NOTE: -1, WRITE_OFF: -1}


def ledger_entry(
    kind: str,
    source_ref: str,
    *,
    org_id: str,
    member_ref: str,
    invoice_id: str,
    amount_ore: int,
    currency: str,
    recorded_at: datetime,
) -> dict[str, Any]:
    """A row to append. `source_ref` names the fact recorded (e.g. "payment:pi_1"), so the
    same fact delivered twice is booked once. `amount_ore` is positive; the kind signs it."""
    if kind not in _SIGN:
        raise ValueError(f"unknown ledger entry kind {kind!r}")
    return {
        "org_id": org_id,
        "member_ref": member_ref,
        "invoice_id": invoice_id,
        "kind": kind,
        "amount_ore": _SIGN[kind] * abs(amount_ore),
        "currency": currency,
        "recorded_at": recorded_at,
        "source_ref": source_ref,
        "delete_after": delete_after(recorded_at.date()),
    }


def balance_of(sums_by_kind: dict[str, int]) -> dict[str, int]:
    """The member's (or org's) position from the signed sums per kind."""
    return {
        "balance_ore": sum(sums_by_kind.values()),
        "invoiced_ore": sums_by_kind.get(INVOICE, 0),
        "paid_ore": -sums_by_kind.get(PAYMENT, 0),
        "refunded_ore": sums_by_kind.get(REFUND, 0),
        "written_off_ore": -sums_by_kind.get(WRITE_OFF, 0) - sums_by_kind.get(CREDIT_NOTE, 0),
    }
