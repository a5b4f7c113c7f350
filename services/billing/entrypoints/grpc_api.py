"""gRPC entry points of billing's org API: translate messages to use cases and back."""

from __future__ import annotations

from typing import Protocol

import grpc
from billing.v1 import billing_pb2 as pb
from billing.v1 import billing_pb2_grpc
from sqlalchemy.engine import Row

from services.billing.domain.fees import BillingPolicy, FeePlan
from services.billing.service_layer.billing_api import BillingApi, fee_plan_from
from services.billing.service_layer.paying import PaymentView
from services.billing.service_layer.refunding import RefundView
from services.common.grpc.auth import current_principal
from services.common.timestamps import iso


class PaymentService(Protocol):
    """What the servicer needs of Stripe payments (service_layer/payments.Payments)."""

    async def create_payment(self, org_id: str, invoice_id: str) -> PaymentView: ...

    async def refund(
        self, org_id: str, invoice_id: str, amount_ore: int, reason: str
    ) -> RefundView: ...


def plan_message(plan_id: str, plan: FeePlan | Row) -> pb.FeePlan:
    return pb.FeePlan(
        plan_id=plan_id,
        membership_type_id=plan.membership_type_id,
        amount_ore=plan.amount_ore,
        currency=plan.currency,
        period=plan.period,
        due_days=plan.due_days,
        vat=plan.vat,
    )


def policy_message(policy: BillingPolicy) -> pb.BillingPolicy:
    return pb.BillingPolicy(
        kid_scheme=policy.kid_scheme,
        first_reminder_days=policy.first_reminder_days,
        max_reminders=policy.max_reminders,
        reminder_interval_days=policy.reminder_interval_days,
    )


def invoice_message(row: Row) -> pb.Invoice:
    return pb.Invoice(
        invoice_id=row.id,
        member_id=row.member_ref,
        number=row.number,
        kid=row.kid,
        amount_ore=row.amount_ore,
        currency=row.currency,
        status=row.status,
        issued_at=iso(row.issued_at) or "",
        due_date=row.due_date.isoformat(),
        reason=row.reason,
        refunded_ore=row.refunded_ore,
        reminders_sent=row.reminders_sent,
        paid_at=iso(row.paid_at) or "",
    )


def entry_message(row: Row) -> pb.LedgerEntry:
    return pb.LedgerEntry(
        entry_id=row.id,
        member_id=row.member_ref,
        invoice_id=row.invoice_id,
        kind=row.kind,
        amount_ore=row.amount_ore,
        currency=row.currency,
        recorded_at=iso(row.recorded_at) or "",
    )


def _org() -> str:
    return current_principal().org_id


class BillingServicer(billing_pb2_grpc.BillingServiceServicer):
    def __init__(self, api: BillingApi, payments: PaymentService) -> None:
        self.api = api
        self.payments = payments

    async def SetFeePlan(
        self, request: pb.SetFeePlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.FeePlan:
        plan = fee_plan_from(
            request.membership_type_id,
            request.amount_ore,
            request.currency,
            request.period,
            request.due_days,
            request.vat,
        )
        return plan_message(*await self.api.set_fee_plan(_org(), plan))

    async def ListFeePlans(
        self, request: pb.ListFeePlansRequest, context: grpc.aio.ServicerContext
    ) -> pb.FeePlans:
        plans = await self.api.fee_plans(_org())
        return pb.FeePlans(plans=[plan_message(p.id, p) for p in plans])

    async def GetBillingPolicy(
        self, request: pb.GetBillingPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.BillingPolicy:
        return policy_message(await self.api.policy(_org()))

    async def SetBillingPolicy(
        self, request: pb.BillingPolicy, context: grpc.aio.ServicerContext
    ) -> pb.BillingPolicy:
        policy = await self.api.set_policy(
            _org(),
            request.kid_scheme,
            request.first_reminder_days,
            request.max_reminders,
            request.reminder_interval_days,
        )
        return policy_message(policy)

    async def GetInvoice(
        self, request: pb.InvoiceRef, context: grpc.aio.ServicerContext
    ) -> pb.Invoice:
        return invoice_message(await self.api.invoice(_org(), request.invoice_id))

    async def ListInvoices(
        self, request: pb.ListInvoicesRequest, context: grpc.aio.ServicerContext
    ) -> pb.Invoices:
        page = await self.api.invoices(
            _org(),
            request.member_id,
            request.status,
            request.page_size,
            request.page_token,
            request.kid,
        )
        return pb.Invoices(
            invoices=[invoice_message(r) for r in page.rows], next_page_token=page.next_token
        )

    async def VoidInvoice(
        self, request: pb.InvoiceRef, context: grpc.aio.ServicerContext
    ) -> pb.Invoice:
        return invoice_message(await self.api.void(_org(), request.invoice_id))

    async def ListLedger(
        self, request: pb.ListLedgerRequest, context: grpc.aio.ServicerContext
    ) -> pb.LedgerEntries:
        page = await self.api.ledger(
            _org(), request.member_id, request.page_size, request.page_token
        )
        return pb.LedgerEntries(
            entries=[entry_message(r) for r in page.rows], next_page_token=page.next_token
        )

    async def GetBalance(
        self, request: pb.GetBalanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.Balance:
        balance = await self.api.balance(_org(), request.member_id)
        return pb.Balance(
            member_id=balance.member_id,
            balance_ore=balance.balance_ore,
            currency=balance.currency,
            invoiced_ore=balance.invoiced_ore,
            paid_ore=balance.paid_ore,
            refunded_ore=balance.refunded_ore,
            written_off_ore=balance.written_off_ore,
        )

    async def CreatePayment(
        self, request: pb.InvoiceRef, context: grpc.aio.ServicerContext
    ) -> pb.Payment:
        view = await self.payments.create_payment(_org(), request.invoice_id)
        return pb.Payment(
            invoice_id=view.invoice_id,
            payment_intent_id=view.payment_intent_id,
            client_secret=view.client_secret,
            url=view.url,
            status=view.status,
        )

    async def RefundInvoice(
        self, request: pb.RefundInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> pb.Refund:
        view = await self.payments.refund(
            _org(), request.invoice_id, request.amount_ore, request.reason
        )
        return pb.Refund(
            invoice_id=view.invoice_id,
            amount_ore=view.amount_ore,
            credit_note_id=view.credit_note_id,
            credit_note_number=view.credit_note_number,
            status=view.status,
        )
