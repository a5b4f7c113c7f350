"""Input rules for orgs and members: errors name every bad field, never echo a value."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.membership.domain.validation import (
    email_lookup_form,
    validate_member,
    validate_org,
)


@pytest.mark.parametrize("number", ["916476507", "916 476 507", " 916476507 "])
def test_valid_org_numbers_are_accepted_and_compacted(number: str) -> None:
    assert validate_org("Lillevik IL", number, "nb").org_number == "916476507"


@pytest.mark.parametrize(
    "number",
    ["916476508", "916476500", "91647650", "9164765070", "abcdefghi", ""],
    ids=["checksum", "checksum-2", "too-short", "too-long", "letters", "empty"],
)
def test_invalid_org_numbers_are_refused(number: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_org("Lillevik IL", number, "nb")
    assert set(caught.value.field_errors) == {"org_number"}


def test_org_language_defaults_to_norwegian() -> None:
    assert validate_org("Lillevik IL", "916476507", "").language == "nb"


def test_org_errors_name_every_bad_field_at_once() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_org("   ", "123", "de")
    assert set(caught.value.field_errors) == {"name", "org_number", "language"}


def test_org_name_has_a_maximum_length() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_org("x" * 201, "916476507", "nb")
    assert set(caught.value.field_errors) == {"name"}


@pytest.mark.parametrize(
    "phone", ["+47 912 34 567", "91234567", "912 34 567", "+4791234567", "004791234567"]
)
def test_phone_is_normalised_to_e164(phone: str) -> None:
    assert validate_member("Kari Nordmann", "kari@example.no", phone, "nb").phone == "+4791234567"


def test_foreign_phone_numbers_keep_their_country() -> None:
    member = validate_member("Kari Nordmann", "kari@example.no", "+46 70 123 45 67", "en")
    assert member.phone == "+46701234567"


def test_member_name_whitespace_is_collapsed() -> None:
    member = validate_member("  Kari   Nordmann ", "kari@example.no", "91234567", "nb")
    assert member.name == "Kari Nordmann"


def test_email_domain_is_lower_cased() -> None:
    member = validate_member("Kari", "Kari@Example.NO", "91234567", "nb")
    assert member.email == "Kari@example.no"


def test_member_language_may_be_left_to_the_org() -> None:
    assert validate_member("Kari", "kari@example.no", "91234567", "").language == ""


BAD_EMAIL = "kari.nordmann@@bad-domain"
BAD_PHONE = "0000"


def test_member_errors_name_every_bad_field_at_once() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_member("   ", BAD_EMAIL, BAD_PHONE, "de")
    assert set(caught.value.field_errors) == {"name", "email", "phone", "language"}


def test_member_errors_never_contain_the_bad_values() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_member("Kari Nordmann", BAD_EMAIL, BAD_PHONE, "nb")
    message = str(caught.value)
    assert set(caught.value.field_errors) == {"email", "phone"}
    assert BAD_EMAIL not in message
    assert "kari.nordmann" not in message
    assert BAD_PHONE not in message
    assert "Kari" not in message


@pytest.mark.parametrize("phone", ["12", "+47 123", "not a number", "+999 1234567"])
def test_invalid_phone_numbers_are_refused(phone: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_member("Kari", "kari@example.no", phone, "nb")
    assert set(caught.value.field_errors) == {"phone"}


@pytest.mark.parametrize("email", ["", "kari", "kari@", "@example.no", "kari@exa mple.no"])
def test_invalid_emails_are_refused(email: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_member("Kari", email, "91234567", "nb")
    assert set(caught.value.field_errors) == {"email"}


def test_email_lookup_form_ignores_case_and_surrounding_space() -> None:
    assert email_lookup_form("  Kari@Example.NO ") == email_lookup_form("kari@example.no")
