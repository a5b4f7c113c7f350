"""Registration forms: what an org may ask, why, on which legal basis and for how long, and
the rules a member's answers must meet. Forms are immutable once published; a change is a new
version, and each member keeps the version they answered."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from services.common.errors import InvalidArgument

FIELD_TYPES = ("text", "email", "phone", "date", "choice", "boolean")
LEGAL_BASES = ("consent", "contract", "legal_obligation", "legitimate_interest")
ORDINARY_CATEGORIES = (
    "contact",
    "identity",
    "demographic",
    "membership",
    "preferences",
    "financial",
    "other",
)
# GDPR art. 9(1): processing is forbidden unless an art. 9(2) exception applies, which the
# org must state (for a voluntary organisation usually 9(2)(d) or explicit consent).
SPECIAL_CATEGORIES = (
    "health",
    "religion",
    "union_membership",
    "political_opinion",
    "ethnic_origin",
    "philosophical_belief",
    "genetic",
    "biometric",
    "sex_life",
    "sexual_orientation",
)
CHANNELS = ("email", "sms", "any")
DEFAULT_FORM = "default"
DATE_OF_BIRTH = "date_of_birth"  # the answer the guardian rule reads
MAX_FIELDS = 50
MAX_PURPOSES = 20
MAX_TEXT = 1000
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
_RETENTION = re.compile(r"^P(?=\d)(\d+Y)?(\d+M)?(\d+D)?$")
_TRUE = ("true", "yes", "ja", "1")
_FALSE = ("false", "no", "nei", "0")


@dataclass(frozen=True)
class FormField:
    key: str
    label_nb: str
    label_en: str
    type: str
    required: bool
    category: str
    purpose: str
    legal_basis: str
    retention: str
    choices: tuple[str, ...] = ()
    justification: str = ""


@dataclass(frozen=True)
class ConsentPurpose:
    key: str
    label_nb: str
    label_en: str
    channel: str = "any"


@dataclass(frozen=True)
class FormDefinition:
    key: str
    title: str
    fields: tuple[FormField, ...]  # the org's own; the base fields are implied
    purposes: tuple[ConsentPurpose, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "fields": [asdict(f) for f in self.fields],
            "purposes": [asdict(p) for p in self.purposes],
        }

    @classmethod
    def from_json(cls, key: str, title: str, data: dict[str, Any]) -> FormDefinition:
        return cls(
            key,
            title,
            tuple(FormField(**{**f, "choices": tuple(f["choices"])}) for f in data["fields"]),
            tuple(ConsentPurpose(**p) for p in data["purposes"]),
        )

    def purpose_keys(self) -> frozenset[str]:
        return frozenset(p.key for p in self.purposes)


def _base(key: str, nb: str, en: str, kind: str) -> FormField:
    return FormField(
        key, nb, en, kind, True, "contact", "membership administration", "contract", "P2Y"
    )


# Always asked, whatever the form says: the register cannot work without them.
BASE_FIELDS = (
    _base("name", "Navn", "Name", "text"),
    _base("email", "E-post", "Email", "email"),
    _base("phone", "Mobil", "Mobile", "phone"),
)
BASE_KEYS = frozenset(f.key for f in BASE_FIELDS)
BASE_FORM = FormDefinition(DEFAULT_FORM, "", ())


@dataclass
class _Errors:
    found: dict[str, str] = field(default_factory=dict)

    def add(self, where: str, reason: str) -> None:
        self.found.setdefault(where, reason)

    def raise_any(self) -> None:
        if self.found:
            raise InvalidArgument(self.found)


def validate_form(
    key: str, title: str, fields: list[FormField], purposes: list[ConsentPurpose]
) -> FormDefinition:
    """Every problem named by where it is, e.g. `fields[2].justification`."""
    errors = _Errors()
    key = key or DEFAULT_FORM
    if not _KEY.match(key):
        errors.add("key", "lower-case letters, digits and _, starting with a letter")
    if len(title) > 200:
        errors.add("title", "at most 200 characters")
    if len(fields) > MAX_FIELDS:
        errors.add("fields", f"at most {MAX_FIELDS}")
    seen: set[str] = set()
    for i, f in enumerate(fields):
        _check_field(errors, f"fields[{i}]", f, seen)
    if len(purposes) > MAX_PURPOSES:
        errors.add("consent_purposes", f"at most {MAX_PURPOSES}")
    purpose_keys: set[str] = set()
    for i, p in enumerate(purposes):
        where = f"consent_purposes[{i}]"
        if not _KEY.match(p.key):
            errors.add(f"{where}.key", "lower-case letters, digits and _, starting with a letter")
        elif p.key in purpose_keys:
            errors.add(f"{where}.key", "used twice")
        purpose_keys.add(p.key)
        if not p.label_nb.strip() or not p.label_en.strip():
            errors.add(f"{where}.label", "labels in nb and en are required")
        if p.channel not in CHANNELS:
            errors.add(f"{where}.channel", f"one of {', '.join(CHANNELS)}")
    errors.raise_any()
    return FormDefinition(key, title.strip(), tuple(fields), tuple(purposes))


def _check_field(errors: _Errors, where: str, f: FormField, seen: set[str]) -> None:
    if not _KEY.match(f.key):
        errors.add(f"{where}.key", "lower-case letters, digits and _, starting with a letter")
    elif f.key in BASE_KEYS:
        errors.add(f"{where}.key", "name, email and phone are always asked; do not redefine them")
    elif f.key in seen:
        errors.add(f"{where}.key", "used twice")
    seen.add(f.key)
    if not f.label_nb.strip() or not f.label_en.strip():
        errors.add(f"{where}.label", "labels in nb and en are required")
    if f.type not in FIELD_TYPES:
        errors.add(f"{where}.type", f"one of {', '.join(FIELD_TYPES)}")
    if f.type == "choice" and (not f.choices or len(set(f.choices)) != len(f.choices)):
        errors.add(f"{where}.choices", "a choice field needs distinct choices")
    if f.type != "choice" and f.choices:
        errors.add(f"{where}.choices", "only a choice field has choices")
    if f.key == DATE_OF_BIRTH and f.type != "date":
        errors.add(f"{where}.type", "date_of_birth must be a date")
    if f.category in SPECIAL_CATEGORIES:
        if not f.justification.strip():
            errors.add(
                f"{where}.justification",
                f"{f.category} is a special category (GDPR art. 9): "
                "state the exception that allows it",
            )
    elif f.category not in ORDINARY_CATEGORIES:
        errors.add(
            f"{where}.category",
            f"one of {', '.join(ORDINARY_CATEGORIES + SPECIAL_CATEGORIES)}",
        )
    if not f.purpose.strip():
        errors.add(f"{where}.purpose", "required: why it is collected")
    if f.legal_basis not in LEGAL_BASES:
        errors.add(f"{where}.legal_basis", f"one of {', '.join(LEGAL_BASES)}")
    if not _RETENTION.match(f.retention):
        errors.add(f"{where}.retention", "an ISO 8601 period after the membership ends, e.g. P1Y")


def validate_answers(form: FormDefinition, answers: dict[str, str], today: date) -> dict[str, Any]:
    """The form's own answers, normalised; raises naming each bad answer (`answers.<key>`)."""
    errors = _Errors()
    known = {f.key: f for f in form.fields}
    for key in sorted(set(answers) - set(known)):
        errors.add(f"answers.{key}", "not a field of this form")
    clean: dict[str, Any] = {}
    for f in form.fields:
        raw = answers.get(f.key, "").strip()
        if not raw:
            if f.required:
                errors.add(f"answers.{f.key}", "required")
            continue
        if len(raw) > MAX_TEXT:
            errors.add(f"answers.{f.key}", f"at most {MAX_TEXT} characters")
            continue
        try:
            clean[f.key] = _typed(f, raw, today)
        except ValueError as exc:
            errors.add(f"answers.{f.key}", str(exc))
    errors.raise_any()
    return clean


def _typed(f: FormField, raw: str, today: date) -> Any:
    if f.type == "email":
        try:
            return validate_email(raw, check_deliverability=False).normalized
        except EmailNotValidError:
            raise ValueError("not a valid email address") from None
    if f.type == "phone":
        return normalise_phone(raw)
    if f.type == "date":
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            raise ValueError("not a date (YYYY-MM-DD)") from None
        if f.key == DATE_OF_BIRTH and not date(1900, 1, 1) <= value <= today:
            raise ValueError("not a plausible date of birth")
        return value.isoformat()
    if f.type == "choice":
        if raw not in f.choices:
            raise ValueError(f"one of {', '.join(f.choices)}")
        return raw
    if f.type == "boolean":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            if f.required:  # a required yes/no ("I accept the rules") must be yes
                raise ValueError("must be yes")
            return False
        raise ValueError("yes or no (true/false)")
    return raw


def normalise_phone(raw: str, region: str = "NO") -> str:
    try:
        parsed = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number (E.164, e.g. +4791234567)")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def validate_consents(form: FormDefinition, given: list[str]) -> tuple[str, ...]:
    """Only purposes the form asked for; nothing is assumed for those not ticked."""
    unknown = sorted(set(given) - form.purpose_keys())
    if unknown:
        raise InvalidArgument({"consents": f"not asked by form {form.key}: {', '.join(unknown)}"})
    return tuple(sorted(set(given)))
