"""Billing's org API on the running stack: an org's fee plan and KID scheme shape the invoice a
sign-up gets; invoices page and filter; a void is cancelled in full by a credit note in the
ledger; scopes, other orgs and bad input are refused and change nothing; the CLI speaks it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import grpc
import pytest
from billing.v1 import billing_pb2 as pb
from billing.v1 import billing_pb2_grpc
from membership.v1 import membership_pb2

from kontingent_cli.devstack import Stack
from services.billing.bootstrap import API, POLICY
from services.billing.domain.kid import MOD11, kid_problem
from services.common.grpc.auth import ORG_SCOPES
from tests.e2e.helpers import OrgApi, cli, cli_json, create_org, wait_until

pytestmark = pytest.mark.e2e

SERVICE = pb.DESCRIPTOR.services_by_name["BillingService"]
FEE_ORE = 32_500


def billing_api(stack: Stack, api_key: str) -> OrgApi:
    """Billing's org API over gRPC with one key."""
    return OrgApi(stack, api_key, "billing", billing_pb2_grpc.BillingServiceStub)


@pytest.fixture(scope="module")
def org(stack: Stack) -> dict[str, str]:
    return create_org(stack, "Bodø Bueskyttere", "970200002")


@pytest.fixture(scope="module")
def billing(stack: Stack, org: dict[str, str]) -> Iterator[OrgApi]:
    client = billing_api(stack, org["api_key"])
    yield client
    client.close()


@pytest.fixture(scope="module")
def members(stack: Stack, org: dict[str, str], billing: OrgApi) -> list[str]:
    """Three sign-ups after the org set its fee (NOK 325, due in 10 days) and MOD11 KIDs;
    their ids once billing has invoiced each."""
    billing("SetFeePlan", pb.SetFeePlanRequest(amount_ore=FEE_ORE, due_days=10))
    billing(
        "SetBillingPolicy",
        pb.BillingPolicy(
            kid_scheme="mod11", first_reminder_days=7, max_reminders=2, reminder_interval_days=14
        ),
    )
    membership = OrgApi(stack, org["api_key"])
    try:
        ids = [
            membership(
                "RegisterMember",
                membership_pb2.RegisterMemberRequest(
                    name=f"Skytter {i}", email=f"skytter{i}@example.no", phone=f"+479011200{i}"
                ),
            ).member_id
            for i in range(3)
        ]
    finally:
        membership.close()
    wait_until(
        lambda: len(billing("ListInvoices", pb.ListInvoicesRequest()).invoices) == 3,
        what="three invoices",
    )
    return ids


def test_the_fee_plan_and_kid_scheme_shape_the_sign_up_invoice(
    billing: OrgApi, members: list[str]
) -> None:
    [plan] = billing("ListFeePlans", pb.ListFeePlansRequest()).plans
    assert (plan.membership_type_id, plan.amount_ore, plan.currency) == ("", FEE_ORE, "NOK")
    assert billing("GetBillingPolicy", pb.GetBillingPolicyRequest()).kid_scheme == "mod11"

    invoices = billing("ListInvoices", pb.ListInvoicesRequest()).invoices
    assert {i.member_id for i in invoices} == set(members)
    for invoice in invoices:
        assert (invoice.amount_ore, invoice.currency) == (FEE_ORE, "NOK")
        assert (invoice.status, invoice.reason, invoice.paid_at) == ("open", "signup", "")
        assert kid_problem(invoice.kid, MOD11) is None, invoice.kid
        assert invoice.kid[:-1] == str(invoice.number).zfill(9)
        issued = datetime.fromisoformat(invoice.issued_at).date()
        assert (date.fromisoformat(invoice.due_date) - issued).days in (10, 11)  # Oslo's day
        assert billing("GetInvoice", pb.InvoiceRef(invoice_id=invoice.invoice_id)) == invoice


def test_invoices_page_by_number_and_filter(billing: OrgApi, members: list[str]) -> None:
    first = billing("ListInvoices", pb.ListInvoicesRequest(page_size=2))
    rest = billing(
        "ListInvoices", pb.ListInvoicesRequest(page_size=2, page_token=first.next_page_token)
    )
    assert len(first.invoices) == 2 and first.next_page_token
    assert len(rest.invoices) == 1 and not rest.next_page_token
    numbers = [i.number for i in [*first.invoices, *rest.invoices]]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3

    [own] = billing("ListInvoices", pb.ListInvoicesRequest(member_id=members[1])).invoices
    assert own.member_id == members[1]
    assert not billing("ListInvoices", pb.ListInvoicesRequest(status="paid")).invoices

    # A payer's KID finds its invoice; one mistyped digit is caught by the check digit.
    [by_kid] = billing("ListInvoices", pb.ListInvoicesRequest(kid=own.kid)).invoices
    assert by_kid.invoice_id == own.invoice_id
    mistyped = own.kid[:-2] + str((int(own.kid[-2]) + 1) % 10) + own.kid[-1]
    refused = billing.refused("ListInvoices", pb.ListInvoicesRequest(kid=mistyped))
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "kid: wrong MOD11 check digit" in refused.details()


def test_bad_input_names_the_field_and_changes_nothing(billing: OrgApi, members: list[str]) -> None:
    plans = billing("ListFeePlans", pb.ListFeePlansRequest())
    policy = billing("GetBillingPolicy", pb.GetBillingPolicyRequest())
    bad_plan = pb.SetFeePlanRequest(
        membership_type_id="x" * 37, amount_ore=0, currency="XBT", period="weekly", due_days=91
    )
    bad_policy = pb.BillingPolicy(kid_scheme="mod12", max_reminders=11)
    cases: list[tuple[str, Any, set[str]]] = [
        ("SetFeePlan", bad_plan, {"membership_type_id", "amount_ore", "currency", "period"}),
        ("SetFeePlan", pb.SetFeePlanRequest(amount_ore=1, due_days=91), {"due_days"}),
        ("SetBillingPolicy", bad_policy, {"kid_scheme", "max_reminders", "reminder_interval"}),
        ("ListInvoices", pb.ListInvoicesRequest(status="asleep"), {"status"}),
        ("ListInvoices", pb.ListInvoicesRequest(page_token="nonsense"), {"page_token"}),
        ("ListInvoices", pb.ListInvoicesRequest(page_size=501), {"page_size"}),
        ("ListLedger", pb.ListLedgerRequest(page_token="-1"), {"page_token"}),
    ]
    for method, request, fields in cases:
        error = billing.refused(method, request)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, error.details())
        assert all(f in error.details() for f in fields), (method, error.details())
    assert billing("ListFeePlans", pb.ListFeePlansRequest()) == plans
    assert billing("GetBillingPolicy", pb.GetBillingPolicyRequest()) == policy
    missing = billing.refused("GetInvoice", pb.InvoiceRef(invoice_id="no-such-invoice"))
    assert missing.code() == grpc.StatusCode.NOT_FOUND


def test_another_orgs_invoice_is_not_found(
    stack: Stack, billing: OrgApi, members: list[str]
) -> None:
    [invoice] = billing("ListInvoices", pb.ListInvoicesRequest(member_id=members[2])).invoices
    stranger = billing_api(stack, create_org(stack, "Fremmed Fekteklubb", "970200010")["api_key"])
    try:
        for method in ("GetInvoice", "VoidInvoice"):
            error = stranger.refused(method, pb.InvoiceRef(invoice_id=invoice.invoice_id))
            assert error.code() == grpc.StatusCode.NOT_FOUND, method
        assert not stranger("ListInvoices", pb.ListInvoicesRequest()).invoices
        assert not stranger("ListLedger", pb.ListLedgerRequest(member_id=members[2])).entries
        balance = stranger("GetBalance", pb.GetBalanceRequest(member_id=members[2]))
        assert (balance.balance_ore, balance.invoiced_ore) == (0, 0)
    finally:
        stranger.close()
    assert billing("GetInvoice", pb.InvoiceRef(invoice_id=invoice.invoice_id)) == invoice


def test_every_method_has_a_scope_and_other_scopes_are_denied(
    stack: Stack, org: dict[str, str]
) -> None:
    assert {m.name for m in SERVICE.methods} == {
        path.removeprefix(API) for path in POLICY if path.startswith(API)
    }
    for scope in ORG_SCOPES:
        created = cli_json(stack, "key", "create", "--scope", scope, "--org", org["org_id"])
        client = billing_api(stack, created["api_key"])
        try:
            for method in SERVICE.methods:
                if scope in POLICY[f"{API}{method.name}"]:
                    continue
                request = getattr(pb, method.input_type.name)()
                error = client.refused(method.name, request)
                assert error.code() == grpc.StatusCode.PERMISSION_DENIED, (scope, method.name)
        finally:
            client.close()


def test_a_void_is_credited_in_full_and_happens_once(billing: OrgApi, members: list[str]) -> None:
    member = members[0]
    [invoice] = billing("ListInvoices", pb.ListInvoicesRequest(member_id=member)).invoices
    voided = billing("VoidInvoice", pb.InvoiceRef(invoice_id=invoice.invoice_id))
    assert (voided.status, voided.number, voided.kid) == ("void", invoice.number, invoice.kid)

    entries = billing("ListLedger", pb.ListLedgerRequest(member_id=member)).entries
    assert [(e.kind, e.amount_ore) for e in entries] == [
        ("invoice", FEE_ORE),
        ("credit_note", -FEE_ORE),
    ]
    assert {e.invoice_id for e in entries} == {invoice.invoice_id}
    balance = billing("GetBalance", pb.GetBalanceRequest(member_id=member))
    assert (balance.balance_ore, balance.invoiced_ore, balance.written_off_ore) == (
        0,
        FEE_ORE,
        FEE_ORE,
    )
    assert balance.currency == "NOK"

    again = billing.refused("VoidInvoice", pb.InvoiceRef(invoice_id=invoice.invoice_id))
    assert again.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert len(billing("ListLedger", pb.ListLedgerRequest(member_id=member)).entries) == 2
    [void] = billing("ListInvoices", pb.ListInvoicesRequest(status="void")).invoices
    assert void.invoice_id == invoice.invoice_id

    whole = billing("GetBalance", pb.GetBalanceRequest())
    assert (whole.member_id, whole.balance_ore, whole.invoiced_ore) == (
        "",
        2 * FEE_ORE,
        3 * FEE_ORE,
    )
    first = billing("ListLedger", pb.ListLedgerRequest(page_size=3))
    rest = billing("ListLedger", pb.ListLedgerRequest(page_token=first.next_page_token))
    ids = [e.entry_id for e in [*first.entries, *rest.entries]]
    assert len(ids) == 4 and ids == sorted(ids) and not rest.next_page_token


def test_the_cli_shows_plans_invoices_and_balances(
    stack: Stack, org: dict[str, str], members: list[str]
) -> None:
    org_id = org["org_id"]
    [plan] = cli_json(stack, "billing", "fees", "list", "--org", org_id)
    assert (plan["amount_ore"], plan["currency"], plan["membership_type_id"]) == (
        str(FEE_ORE),  # int64 is a string in protobuf's JSON
        "NOK",
        "",
    )
    page = cli_json(stack, "billing", "invoice", "list", "--member", members[1], "--org", org_id)
    [invoice] = page["invoices"]
    shown = cli_json(stack, "billing", "invoice", "show", invoice["invoice_id"], "--org", org_id)
    assert shown == invoice and shown["paid_at"] == ""
    balance = cli_json(stack, "billing", "balance", "--member", members[1], "--org", org_id)
    assert balance["balance_ore"] == str(FEE_ORE) and balance["paid_ore"] == "0"

    table = cli(stack, "billing", "invoice", "list", "--org", org_id)
    assert table.returncode == 0 and "325.00 NOK" in table.stdout
    policy = cli_json(stack, "billing", "policy", "set", "--max-reminders", "3", "--org", org_id)
    assert (policy["kid_scheme"], policy["max_reminders"]) == ("mod11", 3)
    bad = cli(stack, "billing", "fees", "set", "--amount", "12.345", "--org", org_id)
    assert bad.returncode == 2 and "--amount" in bad.stderr


def test_pay_and_refund_are_handed_to_stripe_payments(
    stack: Stack, org: dict[str, str], members: list[str]
) -> None:
    org_id = org["org_id"]
    [open_invoice] = cli_json(
        stack, "billing", "invoice", "list", "--member", members[2], "--org", org_id
    )["invoices"]
    payment = cli_json(
        stack, "billing", "invoice", "pay", open_invoice["invoice_id"], "--org", org_id
    )
    assert payment["invoice_id"] == open_invoice["invoice_id"]
    assert payment["payment_intent_id"].startswith("pi_") and payment["client_secret"]
    again = cli_json(
        stack, "billing", "invoice", "pay", open_invoice["invoice_id"], "--org", org_id
    )
    assert again["payment_intent_id"] == payment["payment_intent_id"]  # resumed, not a second

    unpaid = cli(stack, "billing", "invoice", "refund", open_invoice["invoice_id"], "--org", org_id)
    assert unpaid.returncode == 1 and "FAILED_PRECONDITION" in unpaid.stderr
    missing = cli(stack, "billing", "invoice", "pay", "no-such-invoice", "--org", org_id)
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
