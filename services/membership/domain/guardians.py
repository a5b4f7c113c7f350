"""Members under 15 join with a guardian's consent (personopplysningsloven § 5: a child under
15 cannot consent alone to information society services; orgs apply the same age to joining)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from email_validator import EmailNotValidError, validate_email

from services.common.errors import InvalidArgument
from services.membership.domain.forms import normalise_phone

AGE_OF_CONSENT = 15


@dataclass(frozen=True)
class Guardian:
    name: str
    email: str
    phone: str
    consent: bool


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def needs_guardian(date_of_birth: str | None, today: date) -> bool:
    return bool(date_of_birth) and age_on(date.fromisoformat(date_of_birth), today) < AGE_OF_CONSENT


def validate_guardian(
    given: Guardian | None, date_of_birth: str | None, today: date
) -> Guardian | None:
    """The guardian to record, or None when none is needed (then none is kept, even if given:
    data minimisation)."""
    if not needs_guardian(date_of_birth, today):
        return None
    errors: dict[str, str] = {}
    given = given or Guardian("", "", "", False)
    name = " ".join(given.name.split())
    if not name:
        errors["guardian.name"] = "required for a member under 15"
    email = phone = ""
    if given.email.strip():
        try:
            email = validate_email(given.email.strip(), check_deliverability=False).normalized
        except EmailNotValidError:
            errors["guardian.email"] = "not a valid email address"
    if given.phone.strip():
        try:
            phone = normalise_phone(given.phone)
        except ValueError as exc:
            errors["guardian.phone"] = str(exc)
    if not given.email.strip() and not given.phone.strip():
        errors["guardian.contact"] = "an email address or a phone number is required"
    if not given.consent:
        errors["guardian.consent"] = "a member under 15 needs the guardian's consent"
    if errors:
        raise InvalidArgument(errors)
    return Guardian(name, email, phone, True)
