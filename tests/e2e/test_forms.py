"""Registration forms and sign-up against them: every field classified, special categories
justified, every bad answer named, guardians for members under 15."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from membership.v1 import membership_pb2 as pb

from kontingent_cli.devstack import Stack
from tests.e2e.club_form import FORM_YAML, club_fixtures, signup
from tests.e2e.helpers import (
    OrgApi,
    cli,
    cli_json,
)

pytestmark = pytest.mark.e2e


club, api = club_fixtures("Tromsø Turnforening", "940000009")


def test_a_published_form_shows_every_field_with_its_classification(
    stack: Stack, club: dict[str, str]
) -> None:
    form = cli_json(stack, "form", "show", "--org", club["org_id"], "--json")
    assert form["version"] == 1
    keys = [f["key"] for f in form["fields"]]
    assert keys == ["name", "email", "phone", "date_of_birth", "shirt", "allergies"]
    allergies = form["fields"][-1]
    assert allergies["category"] == "health" and allergies["legal_basis"] == "consent"
    assert allergies["justification"].startswith("GDPR art. 9(2)(a)")
    assert [p["key"] for p in form["consent_purposes"]] == ["newsletter", "photos"]
    table = cli(stack, "form", "show", "--org", club["org_id"])
    assert "none pre-ticked" in table.stdout and "health" in table.stdout


def test_a_special_category_without_justification_is_refused_and_nothing_stored(
    stack: Stack, club: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(FORM_YAML.replace("    justification:", "    note:"), encoding="utf-8")
    refused = cli(stack, "form", "publish", str(bad), "--org", club["org_id"])
    assert refused.returncode == 2 and "unknown key(s) note" in refused.stderr
    bad.write_text(
        FORM_YAML.replace(
            '    justification: "GDPR art. 9(2)(a): explicit consent, asked for camps only"\n', ""
        ),
        encoding="utf-8",
    )
    refused = cli(stack, "form", "publish", str(bad), "--org", club["org_id"])
    assert refused.returncode == 1
    assert "INVALID_ARGUMENT" in refused.stderr and "fields[2].justification" in refused.stderr
    forms = cli_json(stack, "form", "list", "--org", club["org_id"], "--json")
    assert [(f["key"], f["version"]) for f in forms] == [("default", 1)]


@pytest.mark.parametrize(
    ("field", "where"),
    [
        (pb.FormField(key="email", type="email"), "fields[0].key"),
        (pb.FormField(key="size", type="number"), "fields[0].type"),
        (pb.FormField(key="size", type="text", legal_basis="because"), "fields[0].legal_basis"),
        (pb.FormField(key="size", type="text", retention="forever"), "fields[0].retention"),
        (pb.FormField(key="size", type="choice"), "fields[0].choices"),
    ],
)
def test_bad_form_fields_are_named(api: OrgApi, field: pb.FormField, where: str) -> None:
    error = api.refused("PublishForm", pb.PublishFormRequest(key="other", fields=[field]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and where in error.details()
    not_found = api.refused("GetForm", pb.GetFormRequest(key="other"))
    assert not_found.code() == grpc.StatusCode.NOT_FOUND


def test_sign_up_names_every_bad_answer_and_stores_nothing(api: OrgApi) -> None:
    error = api.refused(
        "RegisterMember",
        signup(
            email="not-an-address",
            phone="12",
            answers={"date_of_birth": "17.05.1990", "shirt": "XXL", "hobby": "chess"},
            consents=["marketing_sms"],
        ),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    for where in (
        "email:",
        "phone:",
        "answers.date_of_birth",
        "answers.shirt: one of S, M, L",
        "answers.hobby: not a field of this form",
        "consents: not asked by form default: marketing_sms",
    ):
        assert where in error.details(), where
    assert not api("ListMembers", pb.ListMembersRequest()).members


def test_sign_up_keeps_answers_consents_and_the_form_version(
    stack: Stack, club: dict[str, str], api: OrgApi
) -> None:
    member = api(
        "RegisterMember",
        signup(
            email="kari.turn@example.no",
            answers={"date_of_birth": "1988-01-02", "shirt": "M", "allergies": "nøtter"},
            consents=["newsletter"],
        ),
    )
    assert (member.form_key, member.form_version) == ("default", 1)
    assert list(member.consents) == ["newsletter"]
    again = api("GetMember", pb.GetMemberRequest(member_id=member.member_id))
    assert dict(again.answers) == {
        "date_of_birth": "1988-01-02",
        "shirt": "M",
        "allergies": "nøtter",
    }
    consents = cli_json(
        stack, "consent", "list", member.member_id, "--org", club["org_id"], "--json"
    )
    assert consents["granted"] == ["newsletter"]
    assert [(c["purpose"], c["source"]) for c in consents["history"]] == [("newsletter", "signup")]
    export = cli_json(stack, "member", "export", member.member_id, "--org", club["org_id"])
    record = export["stores"]["membership"]["member"]
    assert record["answers"]["allergies"] == {
        "value": "nøtter",
        "category": "health",
        "purpose": "safety on camps",
        "legal_basis": "consent",
        "retention": "P0D",
    }
    assert export["stores"]["membership"]["consents"]["granted"] == ["newsletter"]
    # Nothing is pre-ticked: a member who ticks nothing has consented to nothing.
    quiet = api("RegisterMember", signup(email="stille@example.no", phone="+4791000002"))
    assert list(quiet.consents) == []


def test_a_member_under_15_needs_a_guardians_consent(stack: Stack, api: OrgApi) -> None:
    child = {"date_of_birth": "2016-03-04"}
    refused = api.refused(
        "RegisterMember",
        signup(
            name="Per Barn",
            email="per@example.no",
            answers=child,
            guardian=pb.Guardian(name="Mor Barn", email="mor@example.no"),
        ),
    )
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "guardian.consent" in refused.details()
    assert (
        api.refused(
            "RegisterMember", signup(name="Per Barn", email="per@example.no", answers=child)
        )
        .details()
        .count("guardian.")
        == 3
    )
    member = api(
        "RegisterMember",
        signup(
            name="Per Barn",
            email="per@example.no",
            answers=child,
            consents=["photos"],
            guardian=pb.Guardian(name="Mor Barn", phone="90000123", consent=True),
        ),
    )
    shown = api("GetMember", pb.GetMemberRequest(member_id=member.member_id))
    assert (shown.guardian.name, shown.guardian.phone, shown.guardian.consent) == (
        "Mor Barn",
        "+4790000123",
        True,
    )
    history = api("ListConsents", pb.ListConsentsRequest(member_id=member.member_id)).history
    assert [(c.purpose, c.source) for c in history] == [("photos", "guardian")]
    adult = api(
        "RegisterMember",
        signup(
            email="voksen@example.no",
            phone="+4791000003",
            guardian=pb.Guardian(name="Unødvendig", email="u@example.no", consent=True),
        ),
    )
    assert not adult.HasField("guardian")  # not needed, so not kept


def test_register_via_cli_with_answers(stack: Stack, club: dict[str, str]) -> None:
    member = cli_json(
        stack,
        "member",
        "register",
        "--name",
        "Cli Bruker",
        "--email",
        "cli@example.no",
        "--phone",
        "+4791000008",
        "--answer",
        "date_of_birth=1970-07-07",
        "--answer",
        "shirt=L",
        "--consent",
        "photos",
        "--org",
        club["org_id"],
    )
    assert member["answers"] == {"date_of_birth": "1970-07-07", "shirt": "L"}
    assert member["consents"] == ["photos"]
    shown = cli(stack, "member", "get", member["member_id"], "--org", club["org_id"])
    assert shown.returncode == 0
    for line in ("Cli Bruker", "answer: shirt", "consents", "photos", "default version 1"):
        assert line in shown.stdout, line
    bad = cli(
        stack,
        "member",
        "register",
        "--name",
        "X",
        "--email",
        "x@example.no",
        "--phone",
        "+4791000009",
        "--answer",
        "nonsense",
        "--org",
        club["org_id"],
    )
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr
