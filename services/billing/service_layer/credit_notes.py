"""Credit notes: what cancels all or part of an invoice (a void, a refund). Each has its own
number in the org's credit-note sequence and its ledger entry, in the caller's transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.billing.adapters.repository import Repository
from services.billing.domain.invoices import delete_after
from services.billing.domain.ledger import CREDIT_NOTE


@dataclass(frozen=True)
class CreditNote:
    credit_note_id: str
    number: int
    amount_ore: int


async def issue_credit_note(
    session: AsyncSession,
    invoice: Row,
    amount_ore: int,
    reason: str,
    now: datetime,
    refund_id: str | None = None,
) -> CreditNote | None:
    """None if this refund (by Stripe's refund id) already has its credit note."""
    repo = Repository(session)
    if refund_id is not None and await repo.has_credit_note_for_refund(refund_id):
        return None  # checked first: a number drawn and not used would leave a gap
    credit_note_id = str(uuid.uuid4())
    number = await repo.next_number(invoice.org_id, "credit_note")
    await repo.add_credit_note(
        {
            "id": credit_note_id,
            "org_id": invoice.org_id,
            "member_ref": invoice.member_ref,
            "invoice_id": invoice.id,
            "number": number,
            "amount_ore": amount_ore,
            "currency": invoice.currency,
            "reason": reason[:200],
            "refund_id": refund_id,
            "created_at": now,
            "delete_after": delete_after(now.date()),
        }
    )
    await repo.book_on(invoice, CREDIT_NOTE, f"credit_note:{credit_note_id}", amount_ore, now)
    return CreditNote(credit_note_id, number, amount_ore)
