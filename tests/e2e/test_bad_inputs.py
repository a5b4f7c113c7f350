"""Bad input to each method of the org API answers INVALID_ARGUMENT naming the field, and
changes nothing: the audit log, the member and the org look the same afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest
from membership.v1 import membership_pb2 as pb

from kontingent_cli.devstack import Stack
from tests.e2e.helpers import OrgApi, create_org

pytestmark = pytest.mark.e2e

Make = Callable[[str], object]  # member id -> request

# method, a request with one bad input (given a real member id), the field the error names
CASES: list[tuple[str, Make, str]] = [
    ("GetMember", lambda m: pb.GetMemberRequest(), "member_id"),
    ("ListMembers", lambda m: pb.ListMembersRequest(page_size=501), "page_size"),
    ("ListMembers", lambda m: pb.ListMembersRequest(status="sleeping"), "status"),
    ("UpdateMember", lambda m: pb.UpdateMemberRequest(member_id=m), "update_mask"),
    (
        "UpdateMember",
        lambda m: pb.UpdateMemberRequest(
            member_id=m, email="not-an-address", update_mask={"paths": ["email"]}
        ),
        "email",
    ),
    (
        "UpdateMember",
        lambda m: pb.UpdateMemberRequest(member_id=m, update_mask={"paths": ["status"]}),
        "update_mask",
    ),
    (
        "SetObjection",
        lambda m: pb.SetObjectionRequest(member_id=m, purpose="Bad Purpose!", objecting=True),
        "purpose",
    ),
    ("RecordLogin", lambda m: pb.RecordLoginRequest(member_id=m, kind="teleport"), "kind"),
    (
        "RecordLogin",
        lambda m: pb.RecordLoginRequest(member_id=m, kind="login", ip="999.1.1.1"),
        "ip",
    ),
    (
        # Found by tests/fuzz: a Timestamp outside years 1-9999 was an INTERNAL error.
        "RecordLogin",
        lambda m: pb.RecordLoginRequest(member_id=m, kind="login", at={"seconds": -(2**63)}),
        "at",
    ),
    ("SetConsent", lambda m: pb.SetConsentRequest(member_id=m, purpose=""), "purpose"),
    (
        "AcceptPolicy",
        lambda m: pb.AcceptPolicyRequest(member_id=m, policy_version=7),
        "policy_version",
    ),
    ("UpdateOrg", lambda m: pb.UpdateOrgRequest(), "update_mask"),
    (
        "UpdateOrg",
        lambda m: pb.UpdateOrgRequest(name=" ", update_mask={"paths": ["name"]}),
        "name",
    ),
    ("PublishPolicy", lambda m: pb.PublishPolicyRequest(url="ftp://x.no/p"), "url"),
    ("ListPolicies", lambda m: pb.ListPoliciesRequest(kind="cookies"), "kind"),
    ("PublishForm", lambda m: pb.PublishFormRequest(key="Not A Key"), "key"),
    (
        "CreateMembershipType",
        lambda m: pb.CreateMembershipTypeRequest(name="X", period="weekly", kind="fixed"),
        "period",
    ),
    ("CreateApiKey", lambda m: pb.CreateApiKeyRequest(scopes=["root"]), "scopes"),
    ("ListAuditEntries", lambda m: pb.ListAuditEntriesRequest(page_size=-1), "page_size"),
    ("ListAuditEntries", lambda m: pb.ListAuditEntriesRequest(page_token="zz"), "page_token"),
    (
        "RegisterMember",
        lambda m: pb.RegisterMemberRequest(
            name="Ny", email="ny@example.no", phone="+4795000002", language="de"
        ),
        "language",
    ),
    (
        "RegisterMember",
        lambda m: pb.RegisterMemberRequest(
            name="Ny", email="ny@example.no", phone="+4795000002", source="scraped"
        ),
        "source",
    ),
]


@pytest.fixture(scope="module")
def target(stack: Stack) -> Iterator[tuple[OrgApi, str]]:
    org = create_org(stack, "Kirkenes Kajakklubb", "940000076")
    api = OrgApi(stack, org["api_key"])
    member = api(
        "RegisterMember",
        pb.RegisterMemberRequest(name="Fast Medlem", email="fast@example.no", phone="+4795000001"),
    )
    yield api, member.member_id
    api.close()


def snapshot(api: OrgApi, member_id: str) -> tuple[object, ...]:
    return (
        api("GetMember", pb.GetMemberRequest(member_id=member_id)),
        api("GetOrg", pb.GetOrgRequest()),
        api("ListAuditEntries", pb.ListAuditEntriesRequest()).entries[0].id,
        len(api("ListMembers", pb.ListMembersRequest()).members),
        len(api("ListLogins", pb.ListLoginsRequest(member_id=member_id)).entries),
    )


@pytest.mark.parametrize(("method", "make", "field"), CASES, ids=[f"{m}-{f}" for m, _, f in CASES])
def test_bad_input_is_named_and_changes_nothing(
    target: tuple[OrgApi, str], method: str, make: Make, field: str
) -> None:
    api, member_id = target
    before = snapshot(api, member_id)
    error = api.refused(method, make(member_id))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert f"{field}:" in (error.details() or ""), error.details()
    assert snapshot(api, member_id) == before
