"""Privacy policy versions and re-consent after a material change; the org's contact details."""

from __future__ import annotations

import grpc
import pytest
from membership.v1 import events_pb2
from membership.v1 import membership_pb2 as pb

from kontingent_cli.devstack import Stack
from services.common.topics import RECONSENT_REQUESTED
from tests.e2e.club_form import club_fixtures, signup
from tests.e2e.helpers import (
    OrgApi,
    cli,
    cli_json,
    create_org,
    events,
    wait_until,
)

pytestmark = pytest.mark.e2e


club, api = club_fixtures("Sortland Sangkor", "940000092")


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
            found = {
                (requested.member_id, requested.version)
                for _, requested in events(
                    stack, RECONSENT_REQUESTED, events_pb2.ReconsentRequested
                )
                if requested.org_id == org["org_id"]
            }
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
