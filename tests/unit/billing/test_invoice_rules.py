"""Invoice rules: KID numbers, due dates, bookkeeping retention and pseudonyms."""

from __future__ import annotations

from datetime import date

import pytest
from stdnum import luhn

from services.billing.domain.invoices import delete_after, due_date, kid_for, pseudonym


@pytest.mark.parametrize("invoice_number", [1, 42, 1000, 123456789])
def test_kid_is_luhn_valid(invoice_number: int) -> None:
    assert luhn.is_valid(kid_for(invoice_number))


def test_kid_keeps_leading_zeros() -> None:
    kid = kid_for(42)
    assert len(kid) == 10
    assert kid.startswith("000000042")
    assert kid == "000000042" + luhn.calc_check_digit("000000042")


def test_kids_of_different_invoices_differ() -> None:
    assert len({kid_for(n) for n in range(1, 1001)}) == 1000


def test_a_mistyped_kid_is_caught_by_its_check_digit() -> None:
    kid = kid_for(42)
    mistyped = kid[:5] + str((int(kid[5]) + 1) % 10) + kid[6:]
    assert not luhn.is_valid(mistyped)


def test_due_date_counts_calendar_days() -> None:
    assert due_date(date(2026, 2, 20), 14) == date(2026, 3, 6)


@pytest.mark.parametrize(
    ("issued", "deleted_after"),
    [
        (date(2026, 3, 1), date(2031, 12, 31)),
        (date(2026, 1, 1), date(2031, 12, 31)),
        (date(2026, 12, 31), date(2031, 12, 31)),
        (date(2027, 1, 1), date(2032, 12, 31)),
        (date(2028, 2, 29), date(2033, 12, 31)),
    ],
)
def test_records_are_kept_five_years_after_the_fiscal_year(
    issued: date, deleted_after: date
) -> None:
    assert delete_after(issued) == deleted_after


def test_pseudonym_is_deterministic_per_key() -> None:
    key = b"k" * 32
    assert pseudonym(key, "member-1") == pseudonym(key, "member-1")
    assert pseudonym(key, "member-1") != pseudonym(key, "member-2")


def test_pseudonym_depends_on_the_key() -> None:
    assert pseudonym(b"a" * 32, "member-1") != pseudonym(b"b" * 32, "member-1")


def test_pseudonym_does_not_contain_the_member_id() -> None:
    member_id = "3f2b9c1e-7a4d-4e8b-9c0a-1d2e3f4a5b6c"
    value = pseudonym(b"k" * 32, member_id)
    assert member_id not in value
    assert member_id.split("-")[0] not in value
    assert value.startswith("pseud-")
