"""`kontingent billing ...`: fee plans, the billing policy, invoices, payments and the ledger.

Amounts are typed and shown in kroner (or the plan's currency); the API speaks øre.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from billing.v1 import billing_pb2 as pb
from billing.v1 import billing_pb2_grpc
from google.protobuf.json_format import MessageToDict
from rich.console import Console
from rich.table import Table

from kontingent_cli.output import (
    JsonOpt,
    KeyOpt,
    OrgOpt,
    err,
    fail,
    org_session,
    print_json,
    rpc,
)

billing_app = typer.Typer(
    help="Billing: fee plans, invoices, payments and the ledger.", no_args_is_help=True
)
fees_app = typer.Typer(help="Fee plans: what each membership type pays.", no_args_is_help=True)
policy_app = typer.Typer(help="The billing policy: KID scheme and reminders.", no_args_is_help=True)
invoice_app = typer.Typer(help="Invoices: list, show, void, refund, pay.", no_args_is_help=True)
ledger_app = typer.Typer(help="The payment ledger (append-only).", no_args_is_help=True)
billing_app.add_typer(fees_app, name="fees")
billing_app.add_typer(policy_app, name="policy")
billing_app.add_typer(invoice_app, name="invoice")
billing_app.add_typer(ledger_app, name="ledger")

AmountOpt = Annotated[str, typer.Option("--amount", help="In kroner, e.g. 350 or 349.50.")]


def parse_amount(text: str) -> int:
    """Kroner as typed ("350", "349,50", "1 000") to øre; at most two decimals."""
    cleaned = text.strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise fail(f"--amount {text!r}: expected kroner, e.g. 350 or 349.50", 2) from None
    ore = amount * 100
    if not amount.is_finite() or ore != ore.to_integral_value() or amount < 0:
        raise fail(f"--amount {text!r}: kroner with at most two decimals", 2)
    return int(ore)


def message(msg: Any) -> dict[str, Any]:
    """As the other commands' JSON, but with zeros and empty fields kept: a balance of 0 or
    an unpaid invoice's empty paid_at is an answer, not a missing one."""
    return MessageToDict(
        msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def money(ore: int, currency: str) -> str:
    sign = "-" if ore < 0 else ""
    return f"{sign}{abs(ore) // 100:,}.{abs(ore) % 100:02d} {currency}".replace(",", " ")


def billing_call(org: str | None, api_key: str | None, method: str, request: Any) -> Any:
    """One call to billing's org API with the org's key; a gRPC error ends the command."""
    session = org_session(org, api_key)
    with session.channel("billing") as channel:
        stub = billing_pb2_grpc.BillingServiceStub(channel)
        return rpc(lambda: session.call(getattr(stub, method), request))


def _two_columns(rows: list[tuple[str, str]]) -> None:
    table = Table(show_header=False)
    for label, value in rows:
        table.add_row(label, value)
    Console().print(table)


# --- fee plans and policy ------------------------------------------------------------


def _show_plans(plans: list[Any], as_json: bool) -> None:
    if as_json:
        print_json([message(p) for p in plans])
        return
    table = Table("plan id", "membership type", "amount", "period", "due days", "vat")
    for p in plans:
        table.add_row(
            p.plan_id,
            p.membership_type_id or "(default)",
            money(p.amount_ore, p.currency),
            p.period,
            str(p.due_days),
            "yes" if p.vat else "no",
        )
    Console().print(table)


@fees_app.command("set")
def fees_set(
    amount: AmountOpt,
    membership_type: Annotated[
        str, typer.Option("--type", help="Membership type id; default: the org's default plan.")
    ] = "",
    currency: Annotated[str, typer.Option(help="NOK, SEK, DKK or EUR")] = "NOK",
    period: Annotated[str, typer.Option(help="yearly or monthly")] = "yearly",
    due_days: Annotated[int, typer.Option(help="Days to pay (1-90).")] = 14,
    vat: Annotated[bool, typer.Option("--vat", help="The fee carries VAT.")] = False,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set the fee of a membership type, or the org's default fee (admin)."""
    request = pb.SetFeePlanRequest(
        membership_type_id=membership_type,
        amount_ore=parse_amount(amount),
        currency=currency,
        period=period,
        due_days=due_days,
        vat=vat,
    )
    plan = billing_call(org, api_key, "SetFeePlan", request)
    if as_json:
        print_json(message(plan))
        return
    _show_plans([plan], as_json=False)


@fees_app.command("list")
def fees_list(org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """The org's fee plans; a type without its own plan pays the default."""
    plans = billing_call(org, api_key, "ListFeePlans", pb.ListFeePlansRequest()).plans
    _show_plans(list(plans), as_json)


def _show_policy(policy: Any, as_json: bool) -> None:
    if as_json:
        print_json(message(policy))
        return
    _two_columns(
        [
            ("KID scheme", policy.kid_scheme),
            ("first reminder", f"{policy.first_reminder_days} days after the due date"),
            ("reminders", f"at most {policy.max_reminders}, then the membership lapses"),
            ("between reminders", f"{policy.reminder_interval_days} days"),
        ]
    )


@policy_app.command("get")
def policy_get(org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """The org's KID scheme and reminder rules."""
    _show_policy(
        billing_call(org, api_key, "GetBillingPolicy", pb.GetBillingPolicyRequest()), as_json
    )


@policy_app.command("set")
def policy_set(
    kid_scheme: Annotated[str | None, typer.Option(help="mod10 or mod11")] = None,
    first_reminder_days: Annotated[int | None, typer.Option(help="0-365")] = None,
    max_reminders: Annotated[int | None, typer.Option(help="0-10")] = None,
    reminder_interval_days: Annotated[int | None, typer.Option(help="1-365")] = None,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change the billing policy (admin): only the options given change."""
    changes = {
        "kid_scheme": kid_scheme,
        "first_reminder_days": first_reminder_days,
        "max_reminders": max_reminders,
        "reminder_interval_days": reminder_interval_days,
    }
    given = {name: value for name, value in changes.items() if value is not None}
    if not given:
        raise fail(
            "give at least one of " + ", ".join(f"--{n.replace('_', '-')}" for n in changes), 2
        )
    # The API sets the whole policy: start from the current one.
    policy = billing_call(org, api_key, "GetBillingPolicy", pb.GetBillingPolicyRequest())
    for name, value in given.items():
        setattr(policy, name, value)
    _show_policy(billing_call(org, api_key, "SetBillingPolicy", policy), as_json)


# --- invoices ------------------------------------------------------------------------


def _show_invoice(invoice: Any, as_json: bool) -> None:
    if as_json:
        print_json(message(invoice))
        return
    _two_columns(
        [
            ("invoice id", invoice.invoice_id),
            ("number", str(invoice.number)),
            ("member", invoice.member_id),
            ("KID", invoice.kid),
            ("amount", money(invoice.amount_ore, invoice.currency)),
            ("status", invoice.status),
            ("reason", invoice.reason),
            ("issued", invoice.issued_at),
            ("due", invoice.due_date),
            ("paid", invoice.paid_at),
            ("refunded", money(invoice.refunded_ore, invoice.currency)),
            ("reminders sent", str(invoice.reminders_sent)),
        ]
    )


@invoice_app.command("list")
def invoice_list(
    member: Annotated[str, typer.Option(help="Only this member's invoices.")] = "",
    status: Annotated[str, typer.Option(help="open, paid, void or uncollectible")] = "",
    kid: Annotated[str, typer.Option(help="The invoice with this KID (check digit checked).")] = "",
    page_size: Annotated[int, typer.Option(help="Invoices per page (1-500).")] = 50,
    page_token: Annotated[str, typer.Option(help="From the previous page.")] = "",
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The org's invoices by number, a page at a time."""
    request = pb.ListInvoicesRequest(
        member_id=member, status=status, kid=kid, page_size=page_size, page_token=page_token
    )
    page = billing_call(org, api_key, "ListInvoices", request)
    if as_json:
        print_json(message(page))
        return
    table = Table("number", "invoice id", "member", "KID", "amount", "status", "due")
    for i in page.invoices:
        table.add_row(
            str(i.number),
            i.invoice_id,
            i.member_id,
            i.kid,
            money(i.amount_ore, i.currency),
            i.status,
            i.due_date,
        )
    Console().print(table)
    if page.next_page_token:
        err.print(f"more: --page-token {page.next_page_token}")


@invoice_app.command("show")
def invoice_show(
    invoice_id: str, org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """One invoice."""
    invoice = billing_call(org, api_key, "GetInvoice", pb.InvoiceRef(invoice_id=invoice_id))
    _show_invoice(invoice, as_json)


@invoice_app.command("void")
def invoice_void(
    invoice_id: str, org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Void an open invoice (admin): a credit note cancels it in full."""
    invoice = billing_call(org, api_key, "VoidInvoice", pb.InvoiceRef(invoice_id=invoice_id))
    _show_invoice(invoice, as_json)


@invoice_app.command("refund")
def invoice_refund(
    invoice_id: str,
    amount: Annotated[
        str, typer.Option("--amount", help="In kroner; default: all that is left to refund.")
    ] = "0",
    reason: Annotated[str, typer.Option(help="Shown on the credit note.")] = "",
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Refund a paid invoice through Stripe (admin), with a credit note."""
    request = pb.RefundInvoiceRequest(
        invoice_id=invoice_id, amount_ore=parse_amount(amount), reason=reason
    )
    refund = billing_call(org, api_key, "RefundInvoice", request)
    if as_json:
        print_json(message(refund))
        return
    _two_columns(
        [
            ("invoice id", refund.invoice_id),
            ("refunded", money(refund.amount_ore, "").strip()),
            ("credit note", f"{refund.credit_note_number} ({refund.credit_note_id})"),
            ("status", refund.status),
        ]
    )


@invoice_app.command("pay")
def invoice_pay(
    invoice_id: str, org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Start (or resume) paying an open invoice: the client secret, or a payment URL."""
    payment = billing_call(org, api_key, "CreatePayment", pb.InvoiceRef(invoice_id=invoice_id))
    if as_json:
        print_json(message(payment))
        return
    _two_columns(
        [
            ("invoice id", payment.invoice_id),
            ("payment intent", payment.payment_intent_id),
            ("status", payment.status),
            ("client secret", payment.client_secret),
            ("url", payment.url or "(none: use the client secret with Stripe Elements)"),
        ]
    )


# --- the ledger ----------------------------------------------------------------------


@ledger_app.command("list")
def ledger_list(
    member: Annotated[str, typer.Option(help="Only this member's entries.")] = "",
    page_size: Annotated[int, typer.Option(help="Entries per page (1-500).")] = 50,
    page_token: Annotated[str, typer.Option(help="From the previous page.")] = "",
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ledger entries, oldest first: + what a member owes, - what settles it."""
    request = pb.ListLedgerRequest(member_id=member, page_size=page_size, page_token=page_token)
    page = billing_call(org, api_key, "ListLedger", request)
    if as_json:
        print_json(message(page))
        return
    table = Table("entry", "recorded", "kind", "amount", "member", "invoice id")
    for e in page.entries:
        table.add_row(
            str(e.entry_id),
            e.recorded_at,
            e.kind,
            money(e.amount_ore, e.currency),
            e.member_id,
            e.invoice_id,
        )
    Console().print(table)
    if page.next_page_token:
        err.print(f"more: --page-token {page.next_page_token}")


@billing_app.command("balance")
def balance(
    member: Annotated[str, typer.Option(help="One member; default: the whole org.")] = "",
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What is owed to the org (by one member, or by all), and how it came about."""
    found = billing_call(org, api_key, "GetBalance", pb.GetBalanceRequest(member_id=member))
    if as_json:
        print_json(message(found))
        return
    c = found.currency
    _two_columns(
        [
            ("member", found.member_id or "(the whole org)"),
            ("balance (owed)", money(found.balance_ore, c)),
            ("invoiced", money(found.invoiced_ore, c)),
            ("paid", money(found.paid_ore, c)),
            ("refunded", money(found.refunded_ore, c)),
            ("written off / credited", money(found.written_off_ore, c)),
        ]
    )
