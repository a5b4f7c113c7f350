"""Every kind renders in both languages (subject, HTML, text, and SMS where it goes by SMS);
HTML escapes what a member typed, plain text and SMS do not; a marketing message always ends
with the unsubscribe link; the email that replaces a STOP'd SMS carries its text; amounts and
dates read the way each language writes them."""

from __future__ import annotations

import pytest

from services.notify.adapters.templates import render, sample_context
from services.notify.domain.content import (
    CONTENT,
    LANGUAGES,
    ORG_MESSAGE,
    SMS,
    SMS_FALLBACK,
    day,
    money,
)
from services.notify.domain.messages import TEMPLATES

KINDS = sorted(CONTENT)
LINK = "https://varsel.kontingent.no/unsubscribe/tok"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", KINDS)
def test_every_kind_renders_every_part_in_both_languages(template: str, language: str) -> None:
    context = sample_context(template)
    rendered = render(template, language, context)
    assert rendered.subject and "\n" not in rendered.subject
    shown = context["body"] if template == ORG_MESSAGE else context["name"]  # the org's text
    assert shown in rendered.text and shown in rendered.html
    assert "{{" not in rendered.text + rendered.html + rendered.subject
    if SMS in CONTENT[template].channels:
        assert rendered.sms and context["org_name"] in rendered.sms
        assert rendered.sms_length is not None and rendered.sms_length.segments >= 1
    else:
        assert rendered.sms is None


def test_every_declared_kind_has_content_and_the_languages_differ() -> None:
    assert set(TEMPLATES) <= set(CONTENT)
    for template in KINDS:
        nb, en = (render(template, lang, sample_context(template)) for lang in LANGUAGES)
        assert nb.text != en.text, template


def test_unknown_language_falls_back_to_norwegian() -> None:
    context = sample_context("welcome")
    assert render("welcome", "de", context) == render("welcome", "nb", context)


def test_html_is_autoescaped_and_text_is_not() -> None:
    context = {**sample_context("welcome"), "name": "<script>alert(1)</script> & Co"}
    rendered = render("welcome", "en", context)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in rendered.html
    assert "<script>alert(1)</script> & Co" in rendered.text


def test_an_org_message_body_is_escaped_into_paragraphs() -> None:
    context = {**sample_context(ORG_MESSAGE), "body": "Møte <i>i kveld</i>\n\nTa med kaffe"}
    html = render(ORG_MESSAGE, "nb", context).html
    assert "<p>Møte &lt;i&gt;i kveld&lt;/i&gt;</p>" in html and "<p>Ta med kaffe</p>" in html


@pytest.mark.parametrize("language", LANGUAGES)
def test_marketing_carries_a_visible_unsubscribe_link_in_every_part(language: str) -> None:
    rendered = render(ORG_MESSAGE, language, sample_context(ORG_MESSAGE), None, LINK)
    assert f'href="{LINK}"' in rendered.html
    assert LINK in rendered.text and rendered.sms and LINK in rendered.sms
    plain = render(ORG_MESSAGE, language, sample_context(ORG_MESSAGE))
    assert "unsubscribe" not in plain.html.lower() and "meld deg av" not in plain.html.lower()


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_email_instead_of_an_sms_names_the_org_and_carries_the_text(language: str) -> None:
    context = {**sample_context(SMS_FALLBACK), "sms_text": "Roklubben: <b>Takk</b> & velkommen"}
    rendered = render(SMS_FALLBACK, language, context)
    assert context["org_name"] in rendered.subject
    assert context["sms_text"] in rendered.text
    assert "Roklubben: &lt;b&gt;Takk&lt;/b&gt; &amp; velkommen" in rendered.html


def test_invoice_shows_amount_due_date_kid_and_pay_link() -> None:
    context = {
        **sample_context("invoice-issued"),
        "amount": money(125_050, "NOK", "nb"),
        "due_date": day("2026-12-01", "nb"),
        "pay_url": "https://betal.kontingent.no/inv_9",
    }
    rendered = render("invoice-issued", "nb", context)
    for shown in ("kr 1 250,50", "01.12.2026", context["kid"], "https://betal.kontingent.no/inv_9"):
        assert shown in rendered.text
    assert 'href="https://betal.kontingent.no/inv_9"' in rendered.html


def test_money_and_days_per_language() -> None:
    assert money(45_000, "NOK", "nb") == "kr 450,00"
    assert money(45_000, "NOK", "en") == "NOK 450.00"
    assert money(123_456_789, "NOK", "en") == "NOK 1,234,567.89"
    assert day("2026-03-05", "nb") == "05.03.2026"
    assert day("2026-03-05", "en") == "5 March 2026"
    assert day("", "nb") == ""


def test_norwegian_sms_stays_gsm7() -> None:
    context = {**sample_context("payment-receipt"), "amount": money(1_234_500, "NOK", "nb")}
    length = render("payment-receipt", "nb", context).sms_length
    assert length is not None and length.encoding == "gsm-7"
