"""Registration forms: what a form may ask, and the answers a member must give."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from services.common.errors import InvalidArgument
from services.membership.domain.forms import (
    ConsentPurpose,
    FormDefinition,
    FormField,
    validate_answers,
    validate_consents,
    validate_form,
)
from services.membership.domain.guardians import Guardian, age_on, validate_guardian

TODAY = date(2026, 11, 22)


def field(key: str = "club", **changes: object) -> FormField:
    base = FormField(
        key=key,
        label_nb="Klubb",
        label_en="Club",
        type="text",
        required=False,
        category="preferences",
        purpose="team assignment",
        legal_basis="contract",
        retention="P1Y",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


NEWSLETTER = ConsentPurpose("newsletter", "Nyhetsbrev", "Newsletter", "email")
FORM = FormDefinition(
    "default",
    "Innmelding",
    (
        field("date_of_birth", type="date", required=True, category="identity"),
        field("shirt", type="choice", choices=("S", "M", "L")),
        field("rules", type="boolean", required=True),
        field("photo_ok", type="boolean"),
        field("parent_email", type="email"),
        field("work_phone", type="phone"),
    ),
    (NEWSLETTER,),
)


def fails_on(call, *args) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgument) as refused:
        call(*args)
    return refused.value.field_errors


def test_a_valid_form_keeps_its_fields_and_purposes() -> None:
    form = validate_form("", "Innmelding", list(FORM.fields), [NEWSLETTER])
    assert form.key == "default"
    assert form.purpose_keys() == {"newsletter"}
    assert FormDefinition.from_json(form.key, form.title, form.to_json()) == form


def test_a_special_category_needs_a_justification() -> None:
    health = field("allergies", category="health", legal_basis="consent")
    errors = fails_on(validate_form, "default", "", [health], [])
    assert "special category" in errors["fields[0].justification"]
    justified = replace(health, justification="art. 9(2)(a): explicit consent, for camps")
    assert validate_form("default", "", [justified], []).fields == (justified,)


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        (field(key="Bad Key"), "fields[0].key"),
        (field(key="email"), "fields[0].key"),
        (field(label_en=""), "fields[0].label"),
        (field(type="number"), "fields[0].type"),
        (field(type="choice"), "fields[0].choices"),
        (field(choices=("a",)), "fields[0].choices"),
        (field(category="gossip"), "fields[0].category"),
        (field(purpose=" "), "fields[0].purpose"),
        (field(legal_basis="because"), "fields[0].legal_basis"),
        (field(retention="forever"), "fields[0].retention"),
        (field(retention="P"), "fields[0].retention"),
        (field(key="date_of_birth", type="text"), "fields[0].type"),
    ],
)
def test_each_bad_field_is_named(bad: FormField, where: str) -> None:
    assert where in fails_on(validate_form, "default", "", [bad], [])


def test_bad_purposes_and_duplicates_are_named() -> None:
    errors = fails_on(
        validate_form,
        "x y",
        "",
        [field("a"), field("a")],
        [NEWSLETTER, NEWSLETTER, ConsentPurpose("sms", "", "SMS", "pigeon")],
    )
    assert set(errors) >= {
        "key",
        "fields[1].key",
        "consent_purposes[1].key",
        "consent_purposes[2].label",
        "consent_purposes[2].channel",
    }


def test_answers_are_typed_and_normalised() -> None:
    answers = validate_answers(
        FORM,
        {
            "date_of_birth": "2001-02-03",
            "shirt": "M",
            "rules": "ja",
            "photo_ok": "no",
            "parent_email": "Mor@Example.NO",
            "work_phone": "912 34 567",
        },
        TODAY,
    )
    assert answers == {
        "date_of_birth": "2001-02-03",
        "shirt": "M",
        "rules": True,
        "photo_ok": False,
        "parent_email": "Mor@example.no",
        "work_phone": "+4791234567",
    }


def test_every_bad_answer_is_named_at_once() -> None:
    errors = fails_on(
        validate_answers,
        FORM,
        {
            "date_of_birth": "03.02.2001",
            "shirt": "XXL",
            "rules": "nei",
            "parent_email": "not-an-address",
            "work_phone": "12",
            "favourite_colour": "blue",
        },
        TODAY,
    )
    assert errors == {
        "answers.favourite_colour": "not a field of this form",
        "answers.date_of_birth": "not a date (YYYY-MM-DD)",
        "answers.shirt": "one of S, M, L",
        "answers.rules": "must be yes",
        "answers.parent_email": "not a valid email address",
        "answers.work_phone": "not a valid phone number (E.164, e.g. +4791234567)",
    }


def test_required_answers_and_impossible_birth_dates() -> None:
    assert fails_on(validate_answers, FORM, {}, TODAY) == {
        "answers.date_of_birth": "required",
        "answers.rules": "required",
    }
    errors = fails_on(
        validate_answers, FORM, {"date_of_birth": "2030-01-01", "rules": "yes"}, TODAY
    )
    assert errors == {"answers.date_of_birth": "not a plausible date of birth"}


def test_only_purposes_the_form_asks_for_can_be_consented_to() -> None:
    assert validate_consents(FORM, []) == ()
    assert validate_consents(FORM, ["newsletter", "newsletter"]) == ("newsletter",)
    assert fails_on(validate_consents, FORM, ["newsletter", "marketing_sms"]) == {
        "consents": "not asked by form default: marketing_sms"
    }


def test_age_counts_whole_years() -> None:
    assert age_on(date(2011, 11, 22), TODAY) == 15
    assert age_on(date(2011, 11, 23), TODAY) == 14
    assert age_on(date(2012, 2, 29), date(2027, 2, 28)) == 14


def test_under_15_needs_a_guardian_who_consents() -> None:
    child = "2015-06-01"
    errors = fails_on(validate_guardian, None, child, TODAY)
    assert set(errors) == {"guardian.name", "guardian.contact", "guardian.consent"}
    no_consent = Guardian("Kari Nordmann", "kari@example.no", "", False)
    assert set(fails_on(validate_guardian, no_consent, child, TODAY)) == {"guardian.consent"}
    bad_contact = Guardian("Kari", "kari@", "123", True)
    assert set(fails_on(validate_guardian, bad_contact, child, TODAY)) == {
        "guardian.email",
        "guardian.phone",
    }
    ok = validate_guardian(Guardian(" Kari  Nordmann ", "", "90000001", True), child, TODAY)
    assert ok == Guardian("Kari Nordmann", "", "+4790000001", True)


def test_no_guardian_is_kept_for_members_of_15_and_over_or_without_a_birth_date() -> None:
    given = Guardian("Kari", "kari@example.no", "", True)
    assert validate_guardian(given, "2011-11-22", TODAY) is None
    assert validate_guardian(given, None, TODAY) is None
