"""Use cases of billing's org API: fee plans, the billing policy, invoices, the ledger.

Every query is scoped by the calling org; another org's object is simply not found. The
gRPC servicer maps messages to these calls and back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.engine import Row

from services.billing.adapters.repository import Repository
from services.billing.domain.fees import (
    BillingPolicy,
    FeePlan,
    validate_fee_plan,
    validate_policy,
)
from services.billing.domain.invoices import OPEN, STATUSES, VOID
from services.billing.domain.kid import validate_kid
from services.billing.domain.ledger import balance_of
from services.billing.service_layer.credit_notes import issue_credit_note
from services.common.db.engine import Database
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound

DEFAULT_PAGE = 50
MAX_PAGE = 500
MAX_TYPE_ID = 36  # a membership type id is a UUID
DEFAULT_CURRENCY = "NOK"
VOID_REASON = "invoice voided"


def page_limit(page_size: int) -> int:
    """Rows a page holds: the size asked for (1-MAX_PAGE), or DEFAULT_PAGE for 0."""
    if not 0 <= page_size <= MAX_PAGE:
        raise InvalidArgument({"page_size": f"between 1 and {MAX_PAGE}"})
    return page_size or DEFAULT_PAGE


def page_after(token: str) -> int:
    """The key (invoice number or entry id) the previous page ended at; 0 for the first."""
    token = token.strip()
    if not token:
        return 0
    if not token.isdigit() or len(token) > 18:  # beyond that it is no key of ours
        raise InvalidArgument({"page_token": "not a token from a previous page"})
    return int(token)


def next_token(keys: list[int], limit: int) -> str:
    """A token for the next page; empty when this page was the last (it was not full)."""
    return str(keys[-1]) if len(keys) == limit else ""


def fee_plan_from(
    membership_type_id: str, amount_ore: int, currency: str, period: str, due_days: int, vat: bool
) -> FeePlan:
    """The plan asked for, every bad field named at once. Billing knows an org's membership
    types only from membership's events (billed_members), and a type may get its plan before
    its first member signs up, so any id of a type's shape is accepted."""
    errors: dict[str, str] = {}
    if len(membership_type_id.strip()) > MAX_TYPE_ID:
        errors["membership_type_id"] = f"a membership type id (at most {MAX_TYPE_ID} characters)"
    try:
        plan = validate_fee_plan(membership_type_id, amount_ore, currency, period, due_days, vat)
    except InvalidArgument as exc:
        errors = {**exc.field_errors, **errors}
    if errors:
        raise InvalidArgument(errors)
    return plan


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_token: str


@dataclass(frozen=True)
class Balance:
    member_id: str
    currency: str
    balance_ore: int
    invoiced_ore: int
    paid_ore: int
    refunded_ore: int
    written_off_ore: int


class StartedPayments(Protocol):
    """Payments already started at Stripe (service_layer/payments.Payments)."""

    async def cancel_payments_of(self, invoice_id: str) -> int:
        """Makes them unpayable; never raises for Stripe's failures (a later pass retries)."""
        ...


class BillingApi:
    def __init__(self, database: Database, payments: StartedPayments | None = None) -> None:
        self.database = database
        self.payments = payments  # None: no Stripe payments configured

    # --- fee plans and policy ----------------------------------------------------------

    async def set_fee_plan(self, org_id: str, plan: FeePlan) -> tuple[str, FeePlan]:
        async with self.database.transaction() as session:
            plan_id = await Repository(session).set_fee_plan(org_id, plan, datetime.now(UTC))
        return plan_id, plan

    async def fee_plans(self, org_id: str) -> list[Row]:
        async with self.database.sessions() as session:
            return await Repository(session).fee_plans(org_id)

    async def policy(self, org_id: str) -> BillingPolicy:
        async with self.database.sessions() as session:
            return await Repository(session).policy(org_id)

    async def set_policy(
        self,
        org_id: str,
        kid_scheme: str,
        first_reminder_days: int,
        max_reminders: int,
        reminder_interval_days: int,
    ) -> BillingPolicy:
        policy = validate_policy(
            kid_scheme, first_reminder_days, max_reminders, reminder_interval_days
        )
        async with self.database.transaction() as session:
            await Repository(session).set_policy(org_id, policy, datetime.now(UTC))
        return policy

    # --- invoices ----------------------------------------------------------------------

    async def invoice(self, org_id: str, invoice_id: str) -> Row:
        async with self.database.sessions() as session:
            return _found(await Repository(session).invoice(org_id, invoice_id), invoice_id)

    async def invoices(
        self, org_id: str, member_id: str, status: str, page_size: int, token: str, kid: str = ""
    ) -> Page:
        """Oldest first by invoice number; the token is the last number of the page before."""
        status = status.strip().lower()
        if status and status not in STATUSES:
            raise InvalidArgument({"status": f"one of {', '.join(STATUSES)}"})
        limit, after = page_limit(page_size), page_after(token)
        async with self.database.sessions() as session:
            repo = Repository(session)
            if kid.strip():
                kid = validate_kid(kid, (await repo.policy(org_id)).kid_scheme)
            rows = await repo.list_invoices(
                org_id, member_id.strip(), status, after, limit, kid.strip()
            )
        return Page(rows, next_token([r.number for r in rows], limit))

    async def void(self, org_id: str, invoice_id: str) -> Row:
        """An open invoice is closed and cancelled in full by a credit note, so the member's
        balance returns to what it was. One transaction: a void is never half done. Then,
        outside it, any payment started for the invoice is cancelled at Stripe; if Stripe
        cannot be reached the void stands and the reconcile pass retries the cancellation."""
        now = datetime.now(UTC)
        async with self.database.transaction() as session:
            repo = Repository(session)
            invoice = _found(await repo.invoice(org_id, invoice_id, for_update=True), invoice_id)
            if invoice.status != OPEN:
                raise FailedPrecondition(
                    f"invoice {invoice_id} is {invoice.status}; only an open invoice can be voided"
                )
            await repo.update_invoice(invoice.id, status=VOID, closed_at=now, next_reminder_on=None)
            await issue_credit_note(session, invoice, invoice.amount_ore, VOID_REASON, now)
            voided = _found(await repo.invoice(org_id, invoice_id), invoice_id)
        if self.payments is not None:
            await self.payments.cancel_payments_of(invoice_id)
        return voided

    # --- the ledger --------------------------------------------------------------------

    async def ledger(self, org_id: str, member_id: str, page_size: int, token: str) -> Page:
        """Oldest first by entry id; the token is the last id of the page before."""
        limit, after = page_limit(page_size), page_after(token)
        async with self.database.sessions() as session:
            rows = await Repository(session).ledger(org_id, member_id.strip(), after, limit)
        return Page(rows, next_token([r.id for r in rows], limit))

    async def balance(self, org_id: str, member_id: str) -> Balance:
        """One member's position, or (member_id "") the org's. An org bills in one currency
        (its fee plans'); with no entries yet, NOK."""
        member_id = member_id.strip()
        async with self.database.sessions() as session:
            repo = Repository(session)
            sums = await repo.balance(org_id, member_id)
            currency = await repo.ledger_currency(org_id, member_id)
        return Balance(member_id, currency or DEFAULT_CURRENCY, **balance_of(sums))


def _found(invoice: Row | None, invoice_id: str) -> Row:
    if invoice is None:
        raise NotFound(f"invoice {invoice_id} not found")
    return invoice
