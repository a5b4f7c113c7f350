"""The org API's pure rules: page sizes and tokens, a fee plan's every bad field named at
once, and the CLI's kroner amounts."""

from __future__ import annotations

import pytest
import typer

from kontingent_cli.billing import money, parse_amount
from services.billing.domain.fees import FeePlan
from services.billing.service_layer.billing_api import (
    fee_plan_from,
    next_token,
    page_after,
    page_limit,
)
from services.common.errors import InvalidArgument


def test_page_size_defaults_to_50_and_is_capped_at_500() -> None:
    assert (page_limit(0), page_limit(1), page_limit(500)) == (50, 1, 500)
    for bad in (-1, 501):
        with pytest.raises(InvalidArgument) as raised:
            page_limit(bad)
        assert set(raised.value.field_errors) == {"page_size"}


def test_a_page_token_is_the_last_key_of_the_page_before() -> None:
    assert (page_after(""), page_after("42")) == (0, 42)
    assert next_token([3, 4], limit=2) == "4"
    assert next_token([3], limit=2) == ""  # a short page is the last
    for bad in ("nonsense", "-1", "1.5", "9" * 19):
        with pytest.raises(InvalidArgument) as raised:
            page_after(bad)
        assert set(raised.value.field_errors) == {"page_token"}


def test_a_fee_plan_fills_defaults() -> None:
    assert fee_plan_from(" type-1 ", 32_500, "nok", "", 0, False) == FeePlan(
        "type-1", 32_500, "NOK", "yearly", 14, False
    )


def test_a_fee_plan_names_every_bad_field_at_once() -> None:
    with pytest.raises(InvalidArgument) as raised:
        fee_plan_from("x" * 37, 0, "XBT", "weekly", 91, False)
    assert set(raised.value.field_errors) == {
        "membership_type_id",
        "amount_ore",
        "currency",
        "period",
        "due_days",
    }
    with pytest.raises(InvalidArgument) as raised:
        fee_plan_from("x" * 37, 100, "NOK", "yearly", 14, False)
    assert set(raised.value.field_errors) == {"membership_type_id"}


@pytest.mark.parametrize(
    ("typed", "ore"),
    [("350", 35_000), ("349.50", 34_950), ("349,5", 34_950), ("1 000", 100_000), ("0", 0)],
)
def test_amounts_are_typed_in_kroner(typed: str, ore: int) -> None:
    assert parse_amount(typed) == ore


@pytest.mark.parametrize("typed", ["12.345", "-5", "abc", "", "inf"])
def test_amounts_that_are_not_kroner_are_refused(typed: str) -> None:
    with pytest.raises(typer.Exit):
        parse_amount(typed)


def test_money_shows_kroner_and_ore() -> None:
    assert money(32_500, "NOK") == "325.00 NOK"
    assert money(-5, "NOK") == "-0.05 NOK"
    assert money(123_456_789, "EUR") == "1 234 567.89 EUR"
