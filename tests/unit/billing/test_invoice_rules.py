"""Invoice rules: KID numbers (MOD10 and MOD11), due dates, bookkeeping retention, pseudonyms."""

from __future__ import annotations

from datetime import date

import pytest
from stdnum import luhn

from services.billing.domain.invoices import delete_after, due_date, pseudonym
from services.billing.domain.kid import MOD10, MOD11, kid_problem, make_kid, validate_kid
from services.common.errors import InvalidArgument


@pytest.mark.parametrize("invoice_number", [1, 42, 1000, 123456789])
def test_kid_is_luhn_valid(invoice_number: int) -> None:
    assert luhn.is_valid(make_kid(invoice_number))


def test_kid_keeps_leading_zeros() -> None:
    kid = make_kid(42)
    assert len(kid) == 10
    assert kid.startswith("000000042")
    assert kid == "000000042" + luhn.calc_check_digit("000000042")


def test_kids_of_different_invoices_differ() -> None:
    assert len({make_kid(n) for n in range(1, 1001)}) == 1000


def test_a_mistyped_kid_is_caught_by_its_check_digit() -> None:
    kid = make_kid(42)
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


# MOD11 examples worked by hand: weights 2,3,4,5,6,7 from the right, check = 11 - sum % 11.
@pytest.mark.parametrize(
    ("number", "kid"),
    [
        (1, "0000000019"),  # 1*2 = 2 -> 11 - 2 = 9
        (42, "0000000426"),  # 2*2 + 4*3 = 16 -> 16 % 11 = 5 -> 6
        (5, "0000000051"),  # 5*2 = 10 -> 11 - 10 = 1
        (6, "000000006-"),  # 6*2 = 12 -> 12 % 11 = 1 -> 10, written '-'
        (0, "0000000000"),  # sum 0 -> 11, written 0
    ],
)
def test_mod11_kids(number: int, kid: str) -> None:
    assert make_kid(number, MOD11) == kid
    assert kid_problem(kid, MOD11) is None


@pytest.mark.parametrize(
    ("kid", "scheme", "problem"),
    [
        ("0000000423", MOD10, "wrong MOD10 check digit"),
        ("00000004x2", MOD10, "digits only"),
        ("0000000427", MOD11, "wrong MOD11 check digit"),
        ("00000004a6", MOD11, "digits only"),
        ("1", MOD10, "2 to 25 characters"),
    ],
)
def test_a_kid_typed_in_is_checked(kid: str, scheme: str, problem: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_kid(kid, scheme)
    assert problem in caught.value.field_errors["kid"]


def test_a_kid_issued_under_the_orgs_former_scheme_still_passes() -> None:
    assert validate_kid(make_kid(42, MOD11), MOD10) == "0000000426"
    assert validate_kid("000000006-", MOD10) == "000000006-"


def test_a_valid_kid_passes_with_its_leading_zeros() -> None:
    assert validate_kid(" 0000000426 ", MOD11) == "0000000426"
    assert validate_kid(make_kid(7, MOD10), MOD10) == make_kid(7, MOD10)
