"""What each message kind says and how it goes out: the variables its templates may use
(an org's override is checked against them), its channels, its legal basis, and how amounts
and dates read in each language. No I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from services.notify.domain.messages import MARKETING, SERVICE, TEMPLATES, TRANSACTIONAL

EMAIL = "email"
SMS = "sms"
CHANNELS = (EMAIL, SMS)
LANGUAGES = ("nb", "en")
DEFAULT_LANGUAGE = "nb"

# Template parts; an org can override each one per language.
SUBJECT, HTML, TEXT, SMS_TEXT = "subject", "html", "text", "sms"
PARTS = (SUBJECT, HTML, TEXT, SMS_TEXT)

# Membership's legal bases (forms.LEGAL_BASES); the class of message each one allows.
CONSENT, CONTRACT = "consent", "contract"
LEGAL_OBLIGATION, LEGITIMATE_INTEREST = "legal_obligation", "legitimate_interest"
CLASS_OF_BASIS = {
    CONSENT: MARKETING,
    CONTRACT: TRANSACTIONAL,
    LEGAL_OBLIGATION: TRANSACTIONAL,
    LEGITIMATE_INTEREST: SERVICE,
}

# The message an org writes itself (SendToMembers): its class and purpose come with the
# request, not from TEMPLATES.
ORG_MESSAGE = "org-message"
# A transactional SMS whose number sent STOP, by email instead (the dispatcher's fallback):
# its class, purpose and legal basis are the SMS's, not from TEMPLATES.
SMS_FALLBACK = "sms-fallback"

# Every template gets these from the member's contact at send time.
COMMON = ("name", "org_name")


@dataclass(frozen=True)
class KindContent:
    variables: tuple[str, ...]  # beyond COMMON
    channels: tuple[str, ...]  # the channels it goes by, when the member has the address
    legal_basis: str


CONTENT: dict[str, KindContent] = {
    "welcome": KindContent((), (EMAIL,), LEGITIMATE_INTEREST),
    "invoice-issued": KindContent(
        ("amount", "due_date", "kid", "invoice_number", "pay_url"), (EMAIL,), CONTRACT
    ),
    "payment-receipt": KindContent(("amount", "invoice_number"), (EMAIL, SMS), CONTRACT),
    "payment-reminder": KindContent(
        ("amount", "due_date", "kid", "reminder_number", "pay_url"),
        (EMAIL, SMS),
        LEGITIMATE_INTEREST,
    ),
    "membership-lapsed": KindContent(("period_end",), (EMAIL,), LEGITIMATE_INTEREST),
    "policy-changed": KindContent(
        ("policy_kind", "policy_version", "reconsent_url"), (EMAIL,), LEGITIMATE_INTEREST
    ),
    "export-ready": KindContent(("download_url", "expires_at"), (EMAIL,), LEGAL_OBLIGATION),
    "erasure-confirmed": KindContent(("request_id", "completed_at"), (EMAIL,), LEGAL_OBLIGATION),
    # The member asked for it on the privacy page's form (GDPR art. 12: facilitate rights).
    "privacy-link": KindContent(("privacy_url", "expires_at"), (EMAIL,), LEGAL_OBLIGATION),
    ORG_MESSAGE: KindContent(("subject", "body"), (EMAIL, SMS), ""),
    SMS_FALLBACK: KindContent(("sms_text",), (EMAIL,), ""),
}
# Set when (and only when) the message is marketing; the footer shows it whatever the template.
UNSUBSCRIBE_URL = "unsubscribe_url"

assert set(CONTENT) == set(TEMPLATES) | {ORG_MESSAGE, SMS_FALLBACK}, (
    "every kind says what it offers"
)

# Plausible values for previews and for checking an org's template at save time.
SAMPLES: dict[str, str] = {
    "name": "Kari Nordmann",
    "org_name": "Bodø Roklubb",
    "amount": "kr 450,00",
    "due_date": "01.12.2026",
    "kid": "0001234567",
    "invoice_number": "1042",
    "pay_url": "https://betal.kontingent.no/inv_123",
    "reminder_number": "1",
    "period_end": "31.12.2026",
    "policy_kind": "personvernerklæring",
    "policy_version": "3",
    "reconsent_url": "https://min.kontingent.no/samtykke",
    "download_url": "https://min.kontingent.no/eksport/abc",
    "expires_at": "08.12.2026",
    "privacy_url": "https://min.kontingent.no/privacy/p/token",
    "request_id": "req_123",
    "completed_at": "28.11.2026",
    "subject": "Dugnad på lørdag",
    "body": "Vi møtes ved naustet klokka 10.",
    "sms_text": "Bodø Roklubb: Takk for betalingen! Vi har mottatt kr 450,00 for faktura 1042.",
    UNSUBSCRIBE_URL: "https://varsel.kontingent.no/unsubscribe/token",
}


def variables_of(template: str) -> tuple[str, ...]:
    return COMMON + CONTENT[template].variables


def parts_of(template: str) -> tuple[str, ...]:
    """The parts a kind has: email always, SMS text where it goes by SMS."""
    return PARTS if SMS in CONTENT[template].channels else (SUBJECT, HTML, TEXT)


def language_of(language: str) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def money(amount_ore: int, currency: str, language: str) -> str:
    """450,00 kr reads "kr 450,00" in Norwegian and "NOK 450.00" in English."""
    whole, ore = divmod(abs(amount_ore), 100)
    sign = "-" if amount_ore < 0 else ""
    if language_of(language) == "nb":
        grouped = f"{whole:,}".replace(",", " ")  # a plain space: SMS stays GSM-7
        prefix = "kr" if currency.upper() == "NOK" else currency.upper()
        return f"{sign}{prefix} {grouped},{ore:02d}"
    return f"{sign}{currency.upper()} {whole:,}.{ore:02d}"


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def day(iso: str, language: str) -> str:
    """An ISO date as the language writes it: 01.12.2026 (nb), 1 December 2026 (en)."""
    if not _ISO_DATE.match(iso):
        return iso
    d = date.fromisoformat(iso)
    if language_of(language) == "nb":
        return d.strftime("%d.%m.%Y")
    return f"{d.day} {d.strftime('%B %Y')}"
