"""Input rules for orgs and members. Errors name the field, never echo the value."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from stdnum.no import orgnr

from services.common.errors import InvalidArgument
from services.membership.domain.forms import normalise_phone

LANGUAGES = ("nb", "en")
MAX_NAME = 200


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


def clean_name(errors: dict[str, str], name: str, limit: int = MAX_NAME) -> str:
    """A name with its whitespace collapsed; a missing or too long one noted in `errors`."""
    name = " ".join(name.split())
    if not name:
        errors["name"] = "required"
    elif len(name) > limit:
        errors["name"] = f"at most {limit} characters"
    return name


def validate_org(name: str, org_number: str, language: str) -> OrgDraft:
    errors: dict[str, str] = {}
    name = clean_name(errors, name)
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
    name = clean_name(errors, name)
    normalised_email = ""
    try:
        normalised_email = normalise_email(email)
    except ValueError as exc:
        errors["email"] = str(exc)
    e164 = ""
    try:
        e164 = normalise_phone(phone)
    except ValueError as exc:
        errors["phone"] = str(exc)
    if language and language not in LANGUAGES:
        errors["language"] = f"one of {', '.join(LANGUAGES)}"
    if errors:
        raise InvalidArgument(errors)
    return MemberDraft(name, normalised_email, e164, language)


def normalise_email(email: str) -> str:
    """The address as stored: syntax checked, domain lower-cased. ValueError otherwise."""
    try:
        return str(validate_email(email.strip(), check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise ValueError("not a valid email address") from exc


def email_lookup_form(email: str) -> str:
    """What the blind index hashes: case-insensitive, as people type addresses."""
    return email.strip().lower()


MAX_PAGE = 500
DEFAULT_PAGE = 50


def page_limit(page_size: int) -> int:
    """Rows a page holds: the size asked for (1-MAX_PAGE), or DEFAULT_PAGE for 0."""
    if not 0 <= page_size <= MAX_PAGE:
        raise InvalidArgument({"page_size": f"between 1 and {MAX_PAGE}"})
    return page_size or DEFAULT_PAGE
