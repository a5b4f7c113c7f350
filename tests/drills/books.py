"""What every drill must end with, read the way an org and its members would see it: each
member invoiced once, each payment recorded once in the ledger, each receipt sent once (at
the provider), and nothing in a dead-letter topic that should not be there."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc
from billing.v1 import billing_pb2, billing_pb2_grpc
from notify.v1 import events_pb2 as notify_events

from kontingent_cli.devstack import Stack
from services.common.envelope import decode, unpack
from services.common.errors import PermanentFailure
from services.common.topics import CATALOG, MESSAGE_RECORDED
from tests.drills.traffic import Traffic
from tests.e2e.helpers import read_topic, read_topics
from tests.loopback.sendgrid import SendGridLoopback

RECEIPT = "payment-receipt"


@dataclass
class Books:
    invoices: dict[str, list[Any]] = field(default_factory=dict)  # member id -> invoices
    ledger: dict[str, Counter[str]] = field(default_factory=dict)  # member id -> kinds
    receipts: dict[str, list[str]] = field(default_factory=dict)  # member id -> message ids
    receipt_sends: Counter[str] = field(default_factory=Counter)  # message id -> sends
    dead_letters: Counter[str] = field(default_factory=Counter)  # .dlq topic -> records

    def paid(self) -> int:
        return sum(1 for found in self.invoices.values() if all(i.status == "paid" for i in found))

    def problems(self, traffic: Traffic, expected_dead_letters: Counter[str]) -> list[str]:
        """Everything a member or the org would find wrong; empty when the drill left the
        books straight."""
        found = [f"the load gave up: {g}" for g in traffic.gave_up[:5]]
        for member in traffic.members:
            who = f"member {member.serial} ({member.member_id or 'not registered'})"
            invoices = self.invoices.get(member.member_id, [])
            if len(invoices) != 1:
                found.append(f"{who}: {len(invoices)} invoices")
            elif invoices[0].status != "paid":
                found.append(f"{who}: invoice {invoices[0].status}")
            kinds = self.ledger.get(member.member_id, Counter())
            if kinds["invoice"] != 1 or kinds["payment"] != 1:
                found.append(f"{who}: ledger {dict(kinds)}")
            receipts = self.receipts.get(member.member_id, [])
            if len(receipts) != 1:
                found.append(f"{who}: {len(receipts)} receipts recorded")
            for message_id in receipts:
                if self.receipt_sends[message_id] != 1:
                    found.append(
                        f"{who}: receipt {message_id} sent {self.receipt_sends[message_id]}x"
                    )
        if self.dead_letters != expected_dead_letters:
            found.append(
                f"dead letters {dict(self.dead_letters)}, expected {dict(expected_dead_letters)}"
            )
        return found


def read_books(stack: Stack, api_key: str, sendgrid: SendGridLoopback) -> Books:
    books = Books()
    metadata = (("authorization", f"Bearer {api_key}"),)
    with grpc.insecure_channel(stack.grpc_addr("billing")) as channel:
        billing = billing_pb2_grpc.BillingServiceStub(channel)
        listing = billing_pb2.ListInvoicesRequest
        for invoice in _all(billing.ListInvoices, listing, "invoices", metadata):
            books.invoices.setdefault(invoice.member_id, []).append(invoice)
        ledger = billing_pb2.ListLedgerRequest
        for entry in _all(billing.ListLedger, ledger, "entries", metadata):
            books.ledger.setdefault(entry.member_id, Counter())[entry.kind] += 1
    for record in read_topic(stack.broker, MESSAGE_RECORDED.name):
        try:
            recorded = unpack(decode(record.value), notify_events.MessageRecorded)
        except PermanentFailure:
            continue  # a poison event the poison drill put there; its consumers park it
        if recorded.template == RECEIPT and recorded.channel == "email":
            books.receipts.setdefault(recorded.member_id, []).append(recorded.message_id)
    books.receipt_sends = Counter(mail.message_id for mail in list(sendgrid.sent))
    dlqs = [spec.dlq for spec in CATALOG]
    books.dead_letters = Counter(record.topic for record in read_topics(stack.broker, dlqs))
    return books


def settled_books(
    stack: Stack,
    api_key: str,
    sendgrid: SendGridLoopback,
    traffic: Traffic,
    timeout_s: float = 180.0,
) -> Books:
    """The books once every confirmed payment is booked and receipted (or at the timeout,
    as they are then: the problems will say what is missing)."""
    expected = traffic.confirmed
    deadline = time.monotonic() + timeout_s
    while True:
        books = read_books(stack, api_key, sendgrid)
        receipted = sum(1 for ids in books.receipts.values() if ids)
        if (books.paid() >= expected and receipted >= expected) or time.monotonic() > deadline:
            return books
        time.sleep(2.0)


def _all(rpc: Any, request_type: Any, field_name: str, metadata: Any) -> list[Any]:
    """Every item of a paged list call, page after page."""
    items: list[Any] = []
    token = ""
    while True:
        request = request_type(page_size=500, page_token=token)
        page = rpc(request, metadata=metadata, timeout=30)
        items.extend(getattr(page, field_name))
        token = page.next_page_token
        if not token:
            return items
