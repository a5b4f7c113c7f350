"""Input rules for orgs and members. Errors name the field, never echo the value."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum.no import orgnr

from services.common.errors import InvalidArgument

LANGUAGES = ("nb", "en")
MAX_NAME = 200
DEFAULT_PHONE_REGION = "NO"


@dataclass(frozen=True)
class OrgDraft:
    name: str
    org_number: str
    language: str


@dataclass(frozen=True)
class MemberDraft:
    name: str
    email: str  # normalised: domain lower-cased
    phone: str  # E.164
    language: str


def validate_org(name: str, org_number: str, language: str) -> OrgDraft:
    errors: dict[str, str] = {}
    name = name.strip()
    if not name:
        errors["name"] = "required"
    elif len(name) > MAX_NAME:
        errors["name"] = f"at most {MAX_NAME} characters"
    number = orgnr.compact(org_number or "")
    if not orgnr.is_valid(number):
        errors["org_number"] = "not a valid Norwegian organisation number (9 digits, MOD11)"
    language = language or "nb"
    if language not in LANGUAGES:
        errors["language"] = f"one of {', '.join(LANGUAGES)}"
    if errors:
        raise InvalidArgument(errors)
    return OrgDraft(name, number, language)


def validate_member(name: str, email: str, phone: str, language: str) -> MemberDraft:
    errors: dict[str, str] = {}
    name = " ".join(name.split())
    if not name:
        errors["name"] = "required"
    elif len(name) > MAX_NAME:
        errors["name"] = f"at most {MAX_NAME} characters"
    normalised_email = ""
    try:
        normalised_email = validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        errors["email"] = "not a valid email address"
    e164 = ""
    try:
        parsed = phonenumbers.parse(phone.strip(), DEFAULT_PHONE_REGION)
        if not phonenumbers.is_valid_number(parsed):
            raise phonenumbers.NumberParseException(0, "invalid")
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        errors["phone"] = "not a valid phone number (E.164, e.g. +4791234567)"
    if language and language not in LANGUAGES:
        errors["language"] = f"one of {', '.join(LANGUAGES)}"
    if errors:
        raise InvalidArgument(errors)
    return MemberDraft(name, normalised_email, e164, language)


def email_lookup_form(email: str) -> str:
    """What the blind index hashes: case-insensitive, as people type addresses."""
    return email.strip().lower()
