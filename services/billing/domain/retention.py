"""Which of an org's payment records and Stripe customers its retention profile makes due.
No I/O.

payment-records: the bookkeeping act's date (each record's `delete_after`, 5 years after the
end of its fiscal year) is a floor no profile goes below; a profile may keep records longer
(e.g. 5 years after the relationship ended), never shorter. An open invoice, and what belongs
to it, is never due: the claim is still live.

A member's relationship ended when billing last saw them cancelled or lapsed; an erased member
(whose records carry a pseudonym) ended it at the erasure.

payment-provider-customer: the Stripe customer of a member whose relationship ended, once the
rule's period from the end passed (a rule counting from other events counts from the customer's
creation or the member's end as RecordDates says).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from services.common.clock import Clock
from services.common.retention import RecordDates, RetentionProfile, decide


@dataclass(frozen=True)
class PaymentRecord:
    kind: str  # "invoice", "credit_note", "ledger_entry"
    id: str
    member_ref: str
    invoice_id: str  # its own id for an invoice
    made_at: datetime
    delete_after: date | None  # the bookkeeping act's last day
    open_claim: bool  # an open invoice, or a record of one


@dataclass(frozen=True)
class Customer:
    member_ref: str
    created_at: datetime


def due_payment_records(
    profile: RetentionProfile,
    clock: Clock,
    records: list[PaymentRecord],
    ended: dict[str, datetime],
) -> list[PaymentRecord]:
    """Due records; an invoice only when every record of it is due too, so that nothing is
    left pointing at a deleted invoice."""
    today = clock()
    due = [
        r
        for r in records
        if not r.open_claim
        and r.delete_after is not None
        and r.delete_after < today
        and decide(
            profile,
            "payment-records",
            RecordDates(collected_at=r.made_at, relationship_ended_at=ended.get(r.member_ref)),
            clock,
        ).due
    ]
    going = {(r.kind, r.id) for r in due}
    staying_invoices = {
        r.invoice_id for r in records if r.kind != "invoice" and (r.kind, r.id) not in going
    }
    return [r for r in due if r.kind != "invoice" or r.id not in staying_invoices]


def due_customers(
    profile: RetentionProfile, clock: Clock, customers: list[Customer], ended: dict[str, datetime]
) -> list[str]:
    """Member refs whose Stripe customer is due for deletion; never a running member's."""
    return [
        c.member_ref
        for c in customers
        if c.member_ref in ended
        and decide(
            profile,
            "payment-provider-customer",
            RecordDates(collected_at=c.created_at, relationship_ended_at=ended[c.member_ref]),
            clock,
        ).due
    ]
