"""A member pays through Stripe on the running stack: billing creates the PaymentIntent,
the payer's browser confirms it at localstripe, localstripe's signed webhook reaches billing,
the invoice is paid, the ledger balances, membership activates the member; a refund issues a
credit note; a declined card leaves the invoice open and the member pending; voiding an
invoice cancels the PaymentIntent its member was given."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from billing.v1 import billing_pb2 as pb
from billing.v1 import billing_pb2_grpc
from membership.v1 import membership_pb2

from kontingent_cli.devstack import Stack
from tests.e2e.helpers import OrgApi, create_org, wait_until

pytestmark = pytest.mark.e2e

FEE_ORE = 45_000
VISA = "4242424242424242"
DECLINED = "4000000000000341"  # localstripe declines it when the charge is made


@pytest.fixture(scope="module")
def org(stack: Stack) -> dict[str, str]:
    return create_org(stack, "Tromsø Turlag", "970300007")


@pytest.fixture(scope="module")
def billing(stack: Stack, org: dict[str, str]) -> Iterator[OrgApi]:
    api = OrgApi(stack, org["api_key"], "billing", billing_pb2_grpc.BillingServiceStub)
    api("SetFeePlan", pb.SetFeePlanRequest(amount_ore=FEE_ORE))
    yield api
    api.close()


@pytest.fixture(scope="module")
def membership(stack: Stack, org: dict[str, str]) -> Iterator[OrgApi]:
    api = OrgApi(stack, org["api_key"])
    yield api
    api.close()


@pytest.fixture(scope="module")
def payer(stack: Stack) -> stripe.StripeClient:
    """What Stripe.js does in the member's browser, against the stack's localstripe."""
    return stripe.StripeClient("sk_test_local", base_addresses={"api": stack.stripe_url})


def sign_up(membership: OrgApi, billing: OrgApi, n: int) -> tuple[str, Any]:
    member_id = membership(
        "RegisterMember",
        membership_pb2.RegisterMemberRequest(
            name=f"Turgåer {n}", email=f"turgaer{n}@example.no", phone=f"+4790112{n:03d}"
        ),
    ).member_id
    invoice = wait_until(
        lambda: next(
            iter(billing("ListInvoices", pb.ListInvoicesRequest(member_id=member_id)).invoices),
            None,
        ),
        what="the sign-up invoice",
    )
    return member_id, invoice


def pay(payer: stripe.StripeClient, payment_intent_id: str, card: str) -> None:
    method = payer.v1.payment_methods.create(
        {"type": "card", "card": {"number": card, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    payer.v1.payment_intents.update(payment_intent_id, {"payment_method": method.id})
    with contextlib.suppress(stripe.CardError):  # a declined card: what the test is about
        payer.v1.payment_intents.confirm(payment_intent_id)


def invoice_now(billing: OrgApi, invoice_id: str) -> Any:
    return billing("GetInvoice", pb.InvoiceRef(invoice_id=invoice_id))


def test_a_paid_invoice_activates_the_member_and_a_refund_credits_it(
    billing: OrgApi, membership: OrgApi, payer: stripe.StripeClient
) -> None:
    member_id, invoice = sign_up(membership, billing, 1)
    payment = billing("CreatePayment", pb.InvoiceRef(invoice_id=invoice.invoice_id))
    assert payment.client_secret and payment.payment_intent_id.startswith("pi_")

    pay(payer, payment.payment_intent_id, VISA)

    paid = wait_until(
        lambda: (i := invoice_now(billing, invoice.invoice_id)).status == "paid" and i,
        what="the webhook to mark the invoice paid",
    )
    assert paid.paid_at
    member = wait_until(
        lambda: (
            (
                m := membership("GetMember", membership_pb2.GetMemberRequest(member_id=member_id))
            ).status
            == "active"
            and m
        ),
        what="membership to activate the member",
    )
    assert member.period_end
    balance = billing("GetBalance", pb.GetBalanceRequest(member_id=member_id))
    assert (balance.balance_ore, balance.invoiced_ore, balance.paid_ore) == (0, FEE_ORE, FEE_ORE)
    with pytest.raises(Exception, match="FAILED_PRECONDITION"):
        billing("CreatePayment", pb.InvoiceRef(invoice_id=invoice.invoice_id))

    refund = billing(
        "RefundInvoice", pb.RefundInvoiceRequest(invoice_id=invoice.invoice_id, reason="moved")
    )
    assert refund.amount_ore == FEE_ORE
    wait_until(
        lambda: invoice_now(billing, invoice.invoice_id).refunded_ore == FEE_ORE,
        what="the refund to be booked",
    )
    kinds = [
        e.kind for e in billing("ListLedger", pb.ListLedgerRequest(member_id=member_id)).entries
    ]
    assert sorted(kinds) == ["credit_note", "invoice", "payment", "refund"]
    after = billing("GetBalance", pb.GetBalanceRequest(member_id=member_id))
    assert (after.balance_ore, after.refunded_ore) == (0, FEE_ORE)


def test_a_declined_card_leaves_the_invoice_open_and_the_member_pending(
    billing: OrgApi, membership: OrgApi, payer: stripe.StripeClient
) -> None:
    member_id, invoice = sign_up(membership, billing, 2)
    payment = billing("CreatePayment", pb.InvoiceRef(invoice_id=invoice.invoice_id))

    pay(payer, payment.payment_intent_id, DECLINED)

    wait_until(
        lambda: (
            payer.v1.payment_intents.retrieve(payment.payment_intent_id).status
            == "requires_payment_method"
        ),
        what="Stripe to decline",
    )
    assert invoice_now(billing, invoice.invoice_id).status == "open"
    member = membership("GetMember", membership_pb2.GetMemberRequest(member_id=member_id))
    assert member.status == "pending"
    balance = billing("GetBalance", pb.GetBalanceRequest(member_id=member_id))
    assert balance.balance_ore == FEE_ORE


def test_voiding_an_invoice_cancels_the_payment_its_member_started(
    billing: OrgApi, membership: OrgApi, payer: stripe.StripeClient
) -> None:
    member_id, invoice = sign_up(membership, billing, 3)
    payment = billing("CreatePayment", pb.InvoiceRef(invoice_id=invoice.invoice_id))

    voided = billing("VoidInvoice", pb.InvoiceRef(invoice_id=invoice.invoice_id))

    assert voided.status == "void"
    assert payer.v1.payment_intents.retrieve(payment.payment_intent_id).status == "canceled"
    method = payer.v1.payment_methods.create(
        {"type": "card", "card": {"number": VISA, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    with pytest.raises(stripe.StripeError):  # the client secret it holds pays nothing now
        payer.v1.payment_intents.confirm(payment.payment_intent_id, {"payment_method": method.id})
    with pytest.raises(Exception, match="FAILED_PRECONDITION"):
        billing("CreatePayment", pb.InvoiceRef(invoice_id=invoice.invoice_id))
    balance = billing("GetBalance", pb.GetBalanceRequest(member_id=member_id))
    assert (balance.balance_ore, balance.paid_ore) == (0, 0)
