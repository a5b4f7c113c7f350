"""An org's own template is checked when saved (syntax, the kind's variables, renders in the
sandbox) and runs in jinja2's sandbox, where template code cannot reach Python's internals."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.notify.adapters.templates import check_override, render, sample_context


def refused(template: str, part: str, body: str, language: str = "nb") -> str:
    with pytest.raises(InvalidArgument) as caught:
        check_override(template, language, part, body)
    return str(caught.value)


def test_a_valid_override_is_accepted_and_used() -> None:
    body = "Kjære {{ name }}, takk for {{ amount }} (faktura {{ invoice_number }})."
    check_override("payment-receipt", "nb", "text", body)
    rendered = render("payment-receipt", "nb", sample_context("payment-receipt"), {"text": body})
    assert rendered.text.startswith("Kjære Kari Nordmann, takk for kr 450,00")
    assert rendered.subject.startswith("Kvittering")  # parts not overridden are ours


def test_syntax_errors_are_refused_with_the_line() -> None:
    assert "line 2" in refused("welcome", "text", "Hei\n{% if name %}uten slutt")


def test_variables_the_kind_does_not_offer_are_refused() -> None:
    message = refused("welcome", "html", "<p>{{ name }} skylder {{ amount }}</p>")
    assert "amount" in message and "offered: name, org_name" in message


@pytest.mark.parametrize(
    "body",
    [
        "{{ name.__class__.__mro__ }}",
        "{{ name.__class__.__base__.__subclasses__() }}",
        "{{ name.format.__globals__ }}",
        "{% for c in name.__class__.__mro__[1].__subclasses__() %}{{ c }}{% endfor %}",
    ],
)
def test_unsafe_template_code_is_refused_by_the_sandbox(body: str) -> None:
    assert "SecurityError" in refused("welcome", "text", body) or "unknown variables" in refused(
        "welcome", "text", body
    )


def test_an_unsafe_override_that_got_stored_falls_back_to_ours() -> None:
    context = sample_context("welcome")
    rendered = render("welcome", "nb", context, {"text": "{{ name.__class__.__mro__ }}"})
    assert rendered.text == render("welcome", "nb", context).text


def test_an_overridden_html_part_is_still_autoescaped() -> None:
    context = {**sample_context("welcome"), "name": "<b>Kari</b>"}
    rendered = render("welcome", "en", context, {"html": "<p>Hello {{ name }}</p>"})
    assert rendered.html == "<p>Hello &lt;b&gt;Kari&lt;/b&gt;</p>"


def test_parts_languages_and_kinds_are_checked() -> None:
    assert "part" in refused("welcome", "sms", "{{ name }}")  # welcome goes by email only
    check_override("payment-reminder", "en", "sms", "{{ org_name }}: pay {{ amount }}")
    assert "language" in refused("welcome", "text", "{{ name }}", language="de")
    assert "template" in refused("promo", "text", "{{ name }}")
    assert "empty" in refused("welcome", "subject", "   ")
    assert "characters" in refused("welcome", "text", "x" * 20_001)
