"""Billing's decision of what a profile makes due: never before the bookkeeping act's date,
longer when the profile says so, and an invoice only once everything of it is due."""

from __future__ import annotations

from datetime import UTC, date, datetime

import yaml

from services.billing.domain.invoices import delete_after
from services.billing.domain.retention import (
    Customer,
    PaymentRecord,
    due_customers,
    due_payment_records,
)
from services.common.retention import RetentionProfile


def profile(category: str, keep: str, after: str) -> RetentionProfile:
    text = f"""
name: t
seed: s
version: 1
rules:
  - {{category: {category}, keep: {keep}, after: {after}, action: delete, basis: b, source: s}}
"""
    return RetentionProfile.model_validate(yaml.safe_load(text))


def on(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)


def record(kind: str, id_: str, invoice: str, day: str, open_claim: bool = False) -> PaymentRecord:
    return PaymentRecord(
        kind, id_, "kari", invoice, on(day), delete_after(date.fromisoformat(day)), open_claim
    )


def test_no_profile_deletes_before_the_bookkeeping_act_allows() -> None:
    one_year = profile("payment-records", "1 years", "collection")
    records = [record("invoice", "inv", "inv", "2024-03-10")]
    assert due_payment_records(one_year, lambda: date(2026, 6, 1), records, {}) == []
    assert due_payment_records(one_year, lambda: date(2030, 1, 1), records, {}) == records


def test_a_longer_profile_keeps_records_past_the_act() -> None:
    after_end = profile("payment-records", "5 years", "end_of_relationship")
    records = [record("invoice", "inv", "inv", "2020-03-10")]
    ended = {"kari": on("2024-01-01")}
    assert due_payment_records(after_end, lambda: date(2026, 6, 1), records, ended) == []
    assert due_payment_records(after_end, lambda: date(2029, 1, 2), records, ended) == records
    # A member still running keeps them.
    assert due_payment_records(after_end, lambda: date(2040, 1, 1), records, {}) == []


def test_an_invoice_stays_while_a_record_of_it_does() -> None:
    fiscal = profile("payment-records", "5 years", "end_of_fiscal_year")
    records = [
        record("invoice", "inv", "inv", "2020-03-10"),
        record("ledger_entry", "1", "inv", "2020-03-10"),
        record("credit_note", "cn", "inv", "2021-02-01"),  # a refund the next year
        record("invoice", "open", "open", "2020-03-10", open_claim=True),
    ]
    due = due_payment_records(fiscal, lambda: date(2026, 6, 1), records, {})
    assert [(r.kind, r.id) for r in due] == [("ledger_entry", "1")]


def test_only_a_former_members_stripe_customer_goes() -> None:
    rule = profile("payment-provider-customer", "3 months", "end_of_relationship")
    customers = [Customer("kari", on("2020-01-01")), Customer("ola", on("2020-01-01"))]
    due = due_customers(rule, lambda: date(2026, 6, 1), customers, {"ola": on("2026-02-28")})
    assert due == ["ola"]
