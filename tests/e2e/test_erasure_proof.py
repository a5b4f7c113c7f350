"""The proof of an erasure (issue 6): a member with distinctive personal data goes through
sign-up with form answers and a consent, an invoice, a card payment at localstripe, the
welcome, invoice and receipt messages and a login; an erasure filed through the CLI completes
with a certificate that verifies. Afterwards none of the member's plaintext values is left in
any service's database (every SQLite file with its -wal and -shm, or a pg_dump of each
PostgreSQL database), on any Kafka topic, in the notify sandbox, in the services' logs or at
localstripe; billing's payment records are kept, pseudonymised, with a basis and a deletion
date.

On PostgreSQL the dump shows live rows only: dead row versions stay in the server's heap
files until VACUUM, which the test cannot read (they belong to the server) and which the
database's own autovacuum reclaims."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe
from billing.v1 import billing_pb2, billing_pb2_grpc
from kafka.admin import KafkaAdminClient

from kontingent_cli.devstack import Stack
from services.common.topics import CATALOG
from tests.e2e.club_form import club_fixtures, signup
from tests.e2e.helpers import (
    OrgApi,
    cli,
    cli_json,
    database_bytes,
    read_topics,
    wait_until,
)

pytestmark = pytest.mark.e2e

club = club_fixtures("Sunndal Sykkelklubb", "991234500")[0]

NAME = "Gunnhild Skårvatnbakken"
EMAIL = "Gunnhild.Skarvatnbakken@Example.no"
PHONE = "+4794837261"
IP = "198.51.100.173"
CITY = "Fjellstølvik"
ALLERGY = "Allergisk mot moltesyltetøy"
VISA = "4242424242424242"

# What must be gone, each in every form it may have been written in.
PLAINTEXT = (
    NAME,
    NAME.split()[1],  # the surname alone
    EMAIL,
    EMAIL.lower(),  # as the email is normalised
    PHONE,  # E.164
    PHONE[3:],  # national form
    IP,
    CITY,
    ALLERGY,
)


def needles() -> list[bytes]:
    """Each value as UTF-8 and as JSON escapes it (logs and files written with ensure_ascii)."""
    found: list[bytes] = []
    for value in PLAINTEXT:
        for form in (value.encode(), json.dumps(value)[1:-1].encode()):
            if form not in found:
                found.append(form)
    return found


def leaks(sources: dict[str, bytes]) -> list[str]:
    """`value in source` for every plaintext value found in a source's bytes."""
    return [
        f"{needle.decode()!r} in {where}"
        for where, raw in sources.items()
        for needle in needles()
        if needle in raw
    ]


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def every_topic(stack: Stack) -> list[str]:
    """The catalog's topics with their retry and dead-letter companions, and whatever else the
    broker holds (the faust apps' own topics)."""
    admin = KafkaAdminClient(bootstrap_servers=stack.broker)
    try:
        listed = set(admin.list_topics())
    finally:
        admin.close()
    return sorted(listed | {name for spec in CATALOG for name in spec.all_names()})


@pytest.fixture(scope="module")
def membership(stack: Stack, club: dict[str, str]) -> Iterator[OrgApi]:
    org_api = OrgApi(stack, club["api_key"])
    yield org_api
    org_api.close()


@pytest.fixture(scope="module")
def billing(stack: Stack, club: dict[str, str]) -> Iterator[OrgApi]:
    org_api = OrgApi(stack, club["api_key"], "billing", billing_pb2_grpc.BillingServiceStub)
    yield org_api
    org_api.close()


def pay_at_localstripe(stack: Stack, payment_intent_id: str) -> None:
    """What Stripe.js does in the member's browser."""
    payer = stripe.StripeClient("sk_test_local", base_addresses={"api": stack.stripe_url})
    method = payer.v1.payment_methods.create(
        {"type": "card", "card": {"number": VISA, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    payer.v1.payment_intents.update(payment_intent_id, {"payment_method": method.id})
    payer.v1.payment_intents.confirm(payment_intent_id)


MESSAGES = {"welcome", "invoice-issued", "payment-receipt"}


def all_sent(stack: Stack, org_id: str, member_id: str) -> bool:
    """Notify has handed each of the member's messages (every template, email and SMS) to
    the sandbox, so none is written after the erasure has looked for it."""
    export = cli_json(stack, "member", "export", member_id, "--org", org_id)
    sent = [m for m in export["stores"]["notify"]["messages"] if m["delivery"]["sent_at"]]
    return len(sent) == len(export["stores"]["notify"]["messages"]) and (
        {m["template"] for m in sent} >= MESSAGES
    )


def stripe_customers(stack: Stack) -> list[dict[str, Any]]:
    client = stripe.StripeClient("sk_test_local", base_addresses={"api": stack.stripe_url})
    return [c.to_dict() for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()]


@pytest.fixture(scope="module")
def erased(
    stack: Stack, club: dict[str, str], membership: OrgApi, billing: OrgApi
) -> dict[str, Any]:
    """The member's whole life on the stack, then their erasure: the status and certificate."""
    org_id = club["org_id"]
    member_id = membership(
        "RegisterMember",
        signup(
            name=NAME,
            email=EMAIL,
            phone=PHONE,
            answers={"date_of_birth": "1988-02-29", "shirt": "M", "allergies": ALLERGY},
        ),
    ).member_id
    cli_json(stack, "consent", "grant", member_id, "newsletter", "--org", org_id)
    cli_json(
        stack,
        "member",
        "record-login",
        member_id,
        "--device",
        "Phone",
        "--ip",
        IP,
        "--city",
        CITY,
        "--org",
        org_id,
    )
    invoice = wait_until(
        lambda: next(
            iter(
                billing(
                    "ListInvoices", billing_pb2.ListInvoicesRequest(member_id=member_id)
                ).invoices
            ),
            None,
        ),
        what="the sign-up invoice",
    )
    # The payment makes the Stripe customer (with the member's contact details) and the
    # payment records that the bookkeeping act keeps.
    payment = billing("CreatePayment", billing_pb2.InvoiceRef(invoice_id=invoice.invoice_id))
    pay_at_localstripe(stack, payment.payment_intent_id)
    wait_until(lambda: all_sent(stack, org_id, member_id), what="the member's messages")
    assert needles()[0] in b"".join(files_under(stack.data_dir / "sandbox").values())
    assert any(c.get("email", "").lower() == EMAIL.lower() for c in stripe_customers(stack))

    filed = cli_json(stack, "erasure", "request", "--org", org_id, "--member", member_id)

    def completed() -> dict[str, Any] | None:
        status = cli_json(stack, "erasure", "status", filed["request_id"], "--org", org_id)
        return status if status["status"] == "completed" else None

    status = wait_until(completed, timeout_s=90, what="the erasure to complete")
    certificate = cli_json(stack, "erasure", "certificate", filed["request_id"], "--org", org_id)
    return {
        "member_id": member_id,
        "request_id": filed["request_id"],
        "status": status,
        "certificate": certificate,
    }


def test_the_certificate_verifies_and_billing_keeps_pseudonymised_rows_with_a_date(
    stack: Stack, club: dict[str, str], erased: dict[str, Any]
) -> None:
    certificate = erased["certificate"]
    assert certificate["verified"] and not certificate["problems"]
    entries = {e["entry"]["target"]: e["entry"] for e in certificate["entries"]}
    assert entries["keyring"]["action"] == "key-shredded"
    assert entries["billing"]["kept"], "the payment records are kept"
    for kept in entries["billing"]["kept"]:
        assert kept["pseudonymised"]
        assert "bokføringsloven" in kept["legal_basis"]
        assert kept["delete_after"].endswith("-12-31")
    assert {t["status"] for t in erased["status"]["targets"]} == {"done"}
    assert entries["confirmation"]["action"] == "member-told"
    # Membership keeps the tombstone that blocks a re-import: a keyed hash, with its basis.
    [tombstone] = entries["membership"]["kept"]
    assert tombstone["category"] == "erased-address" and tombstone["pseudonymised"]
    assert "art. 17" in tombstone["legal_basis"] and tombstone["delete_after"]
    told = {
        r["recipient"]: r["told"] for entry in entries.values() for r in entry["recipients_told"]
    }
    # Here email and SMS go to the sandbox, not through SendGrid or Twilio: only Stripe held
    # the member's data (the customer billing made for the card payment).
    assert told == {"Stripe": True}
    gone = cli(stack, "member", "get", erased["member_id"], "--org", club["org_id"])
    assert gone.returncode == 1 and "NOT_FOUND" in gone.stderr


def test_no_database_holds_the_members_personal_data(stack: Stack, erased: dict[str, Any]) -> None:
    assert not leaks({f"{s}'s database": raw for s, raw in database_bytes(stack).items()})


def test_no_topic_holds_the_members_personal_data(stack: Stack, erased: dict[str, Any]) -> None:
    records = read_topics(stack.broker, every_topic(stack))
    assert records, "the member's life produced events"
    raw = {
        f"{r.topic}[{r.partition}]@{r.offset}": (r.key or b"")
        + (r.value or b"")
        + b"".join(v or b"" for _, v in r.headers)
        for r in records
    }
    assert not leaks(raw)


def test_the_member_was_told_before_the_address_was_forgotten(
    stack: Stack, erased: dict[str, Any]
) -> None:
    entries = {e["entry"]["target"]: e["entry"] for e in erased["certificate"]["entries"]}
    assert entries["confirmation"]["action"] == "member-told"
    # Sent before membership forgot the address and notify its messages.
    assert entries["confirmation"]["at"] <= min(
        entries["membership"]["at"], entries["notify"]["at"]
    )
    sent = {"template": "erasure-confirmed", "channel": "email"}
    assert stack.metric("notify", "notify_messages_queued_total", sent) >= 1


def test_no_sandbox_file_holds_the_members_personal_data(
    stack: Stack, erased: dict[str, Any]
) -> None:
    # The sandbox stands for SendGrid and Twilio: the confirmation's copy is gone with the rest.
    assert not leaks(files_under(stack.data_dir / "sandbox"))


def test_no_log_holds_the_members_personal_data(stack: Stack, erased: dict[str, Any]) -> None:
    assert not leaks(files_under(stack.data_dir / "logs"))


def test_the_stripe_customer_is_deleted(stack: Stack, erased: dict[str, Any]) -> None:
    customers = {
        c["id"]: json.dumps(c, ensure_ascii=False).encode() for c in stripe_customers(stack)
    }
    assert not leaks({f"localstripe customer {cid}": raw for cid, raw in customers.items()})
