"""Registration forms, sign-up against them (guardians under 15), consents with history, and
policy versions with re-consent, through the CLI and the gRPC API of the running stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from events.v1.envelope_pb2 import Envelope
from membership.v1 import events_pb2
from membership.v1 import membership_pb2 as pb

from kontingent_cli.devstack import Stack
from services.common.topics import CONSENT_CHANGED, RECONSENT_REQUESTED
from tests.e2e.helpers import OrgApi, cli, cli_json, create_org, read_topic, wait_until

pytestmark = pytest.mark.e2e

FORM_YAML = """\
key: default
title: Innmelding 2027
fields:
  - key: date_of_birth
    label: {nb: Fødselsdato, en: Date of birth}
    type: date
    required: true
    category: identity
    purpose: age check for guardian consent
    legal_basis: contract
    retention: P1Y
  - key: shirt
    label: {nb: Trøyestørrelse, en: Shirt size}
    type: choice
    choices: [S, M, L]
    category: preferences
    purpose: club kit
    legal_basis: contract
    retention: P0D
  - key: allergies
    label: {nb: Allergier, en: Allergies}
    type: text
    category: health
    purpose: safety on camps
    legal_basis: consent
    retention: P0D
    justification: "GDPR art. 9(2)(a): explicit consent, asked for camps only"
consent_purposes:
  - key: newsletter
    label: {nb: Nyhetsbrev, en: Newsletter}
    channel: email
  - key: photos
    label: {nb: Bilder på nett, en: Photos online}
"""


@pytest.fixture(scope="module")
def club(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    org = create_org(stack, "Tromsø Turnforening", "940000009")
    form = tmp_path_factory.mktemp("forms") / "form.yaml"
    form.write_text(FORM_YAML, encoding="utf-8")
    cli_json(stack, "form", "publish", str(form), "--org", org["org_id"], "--json")
    return org


@pytest.fixture
def api(stack: Stack, club: dict[str, str]) -> Iterator[OrgApi]:
    org_api = OrgApi(stack, club["api_key"])
    yield org_api
    org_api.close()


def signup(**fields: object) -> pb.RegisterMemberRequest:
    base: dict[str, object] = {
        "name": "Ola Nordmann",
        "email": "ola@example.no",
        "phone": "+4791000001",
        "answers": {"date_of_birth": "1990-05-17"},
    }
    return pb.RegisterMemberRequest(**(base | fields))


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
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
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


def test_consents_are_granted_and_withdrawn_with_history_and_events(
    stack: Stack, club: dict[str, str], api: OrgApi
) -> None:
    member = api("RegisterMember", signup(email="samtykke@example.no", phone="+4791000004"))
    org = club["org_id"]
    cli_json(stack, "consent", "grant", member.member_id, "newsletter", "--org", org, "--json")
    cli_json(stack, "consent", "grant", member.member_id, "photos", "--org", org, "--json")
    state = cli_json(
        stack,
        "consent",
        "withdraw",
        member.member_id,
        "newsletter",
        "--source",
        "unsubscribe",
        "--org",
        org,
        "--json",
    )
    assert state["granted"] == ["photos"]
    assert [(c["purpose"], c.get("granted", False), c["source"]) for c in state["history"]] == [
        ("newsletter", True, "member"),
        ("photos", True, "member"),
        ("newsletter", False, "unsubscribe"),
    ]
    # Withdrawing again changes nothing and records nothing.
    again = cli_json(
        stack, "consent", "withdraw", member.member_id, "newsletter", "--org", org, "--json"
    )
    assert len(again["history"]) == 3

    def consent_events() -> list[events_pb2.ConsentChanged] | None:
        found = []
        for record in read_topic(stack.broker, CONSENT_CHANGED.name):
            envelope = Envelope()
            envelope.ParseFromString(record.value)
            changed = events_pb2.ConsentChanged()
            envelope.payload.Unpack(changed)
            if changed.member_id == member.member_id:
                found.append(changed)
        return found if len(found) == 3 else None

    events = wait_until(consent_events, what="three consent-changed events")
    assert [(e.purpose, e.granted, e.source) for e in events] == [
        ("newsletter", True, "member"),
        ("photos", True, "member"),
        ("newsletter", False, "unsubscribe"),
    ]
    contact_free = events[0].SerializeToString()
    assert b"samtykke@example.no" not in contact_free


def test_consent_refusals(stack: Stack, club: dict[str, str], api: OrgApi) -> None:
    member = api("RegisterMember", signup(email="avvist@example.no", phone="+4791000005"))
    unknown = api.refused(
        "SetConsent",
        pb.SetConsentRequest(member_id=member.member_id, purpose="lottery", granted=True),
    )
    assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT and "purpose" in unknown.details()
    bad_source = api.refused(
        "SetConsent",
        pb.SetConsentRequest(
            member_id=member.member_id, purpose="photos", granted=True, source="rumour"
        ),
    )
    assert (
        bad_source.code() == grpc.StatusCode.INVALID_ARGUMENT and "source" in bad_source.details()
    )
    assert not api("ListConsents", pb.ListConsentsRequest(member_id=member.member_id)).history

    other = create_org(stack, "Bodø Bueskyting", "940000017")
    stranger = OrgApi(stack, other["api_key"])
    try:
        hidden = stranger.refused(
            "SetConsent",
            pb.SetConsentRequest(member_id=member.member_id, purpose="photos", granted=False),
        )
        assert hidden.code() == grpc.StatusCode.NOT_FOUND
        assert (
            stranger.refused(
                "ListConsents", pb.ListConsentsRequest(member_id=member.member_id)
            ).code()
            == grpc.StatusCode.NOT_FOUND
        )
    finally:
        stranger.close()
    reader = cli_json(
        stack, "key", "create", "--scope", "members:read", "--org", club["org_id"], "--json"
    )["api_key"]
    read_only = OrgApi(stack, reader)
    try:
        denied = read_only.refused(
            "SetConsent",
            pb.SetConsentRequest(member_id=member.member_id, purpose="photos", granted=True),
        )
        assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
        for method, request in (
            ("PublishForm", pb.PublishFormRequest()),
            ("PublishPolicy", pb.PublishPolicyRequest(url="https://x.no/p")),
            ("UpdateOrg", pb.UpdateOrgRequest()),
        ):
            assert read_only.refused(method, request).code() == grpc.StatusCode.PERMISSION_DENIED
        assert read_only("ListForms", pb.ListFormsRequest()).forms
    finally:
        read_only.close()


def test_policy_versions_and_re_consent(stack: Stack) -> None:
    org = create_org(stack, "Narvik Nattcafé", "940000025")
    api = OrgApi(stack, org["api_key"])
    try:
        early = api("RegisterMember", signup(email="tidlig@example.no", answers={}))
        first = cli_json(
            stack,
            "policy",
            "publish",
            "--url",
            "https://narvik.example.no/personvern/v1",
            "--summary",
            "first version",
            "--material",
            "--org",
            org["org_id"],
            "--json",
        )[0]
        assert (first["version"], first["members_to_reconsent"]) == (1, 1)
        stale = api.refused(
            "RegisterMember", signup(email="ny@example.no", phone="+4791000006", answers={})
        )
        assert stale.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "accepted_policy_version: accept the current privacy policy, version 1" in (
            stale.details()
        )
        later = api(
            "RegisterMember",
            signup(
                email="ny@example.no", phone="+4791000006", answers={}, accepted_policy_version=1
            ),
        )
        minor = api(
            "PublishPolicy",
            pb.PublishPolicyRequest(url="https://narvik.example.no/personvern/v2", summary="typo"),
        )
        assert (minor.version, minor.members_to_reconsent) == (2, 0)
        listed = api("ListMembers", pb.ListMembersRequest(needs_reconsent=True)).members
        assert [m.member_id for m in listed] == [early.member_id]
        major = api(
            "PublishPolicy",
            pb.PublishPolicyRequest(
                url="https://narvik.example.no/personvern/v3",
                summary="new processor",
                material=True,
            ),
        )
        assert major.members_to_reconsent == 2
        listed = api("ListMembers", pb.ListMembersRequest(needs_reconsent=True)).members
        assert {m.member_id for m in listed} == {early.member_id, later.member_id}

        def reconsent_events() -> set[tuple[str, int]] | None:
            found = set()
            for record in read_topic(stack.broker, RECONSENT_REQUESTED.name):
                envelope = Envelope()
                envelope.ParseFromString(record.value)
                requested = events_pb2.ReconsentRequested()
                envelope.payload.Unpack(requested)
                if requested.org_id == org["org_id"]:
                    found.add((requested.member_id, requested.version))
            return found if len(found) == 3 else None

        assert wait_until(reconsent_events, what="reconsent events") == {
            (early.member_id, 1),
            (early.member_id, 3),
            (later.member_id, 3),
        }
        wrong = api.refused(
            "AcceptPolicy", pb.AcceptPolicyRequest(member_id=early.member_id, policy_version=2)
        )
        assert wrong.code() == grpc.StatusCode.INVALID_ARGUMENT and "version 3" in wrong.details()
        accepted = cli_json(
            stack,
            "member",
            "accept-policy",
            early.member_id,
            "--policy",
            "3",
            "--org",
            org["org_id"],
        )
        assert accepted["policy_version"] == 3 and not accepted.get("needs_reconsent")
        listed = api("ListMembers", pb.ListMembersRequest(needs_reconsent=True)).members
        assert [m.member_id for m in listed] == [later.member_id]
        bad_url = api.refused(
            "PublishPolicy", pb.PublishPolicyRequest(url="http://x", kind="cookie")
        )
        assert "url" in bad_url.details() and "kind" in bad_url.details()
        versions = cli_json(stack, "policy", "list", "--org", org["org_id"], "--json")
        assert [v["version"] for v in versions] == [3, 2, 1]
    finally:
        api.close()


def test_org_contact_details(stack: Stack, club: dict[str, str], api: OrgApi) -> None:
    shown = cli_json(
        stack,
        "org",
        "update",
        "--contact-email",
        "Styret@Turn.example.NO",
        "--contact-phone",
        "77 00 00 00",
        "--contact-address",
        "Storgata 1, 9008 Tromsø",
        "--org",
        club["org_id"],
        "--json",
    )
    assert (shown["contact_email"], shown["contact_phone"]) == (
        "Styret@turn.example.no",
        "+4777000000",
    )
    bad = api.refused(
        "UpdateOrg",
        pb.UpdateOrgRequest(
            contact_email="nope",
            language="de",
            update_mask={"paths": ["contact_email", "language"]},
        ),
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "contact_email" in bad.details() and "language" in bad.details()
    assert api("GetOrg", pb.GetOrgRequest()).contact_address == "Storgata 1, 9008 Tromsø"
    nothing = cli(stack, "org", "update", "--org", club["org_id"])
    assert nothing.returncode == 2 and "give at least one of --name" in nothing.stderr
    audit = cli_json(stack, "audit", "list", "--org", club["org_id"], "--json")
    updated = [e for e in audit["entries"] if e["action"] == "org.updated"]
    assert updated and set(updated[0]["fields"]) == {
        "contact_email",
        "contact_phone",
        "contact_address",
    }


def test_erase_removes_consents(stack: Stack, club: dict[str, str], api: OrgApi) -> None:
    member = api(
        "RegisterMember",
        signup(email="glemt@example.no", phone="+4791000007", consents=["photos", "newsletter"]),
    )
    receipts = cli_json(stack, "member", "erase", member.member_id, "--org", club["org_id"])
    membership = receipts["receipts"][0]
    removed = {item["category"]: item.get("count", 0) for item in membership["removed"]}
    assert removed.get("consents") == 2, membership


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
