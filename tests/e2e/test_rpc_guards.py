"""Every method of the org API, as the running server answers it: without a key, with a key
that lacks the method's scope, and (for methods about one member) with another org's key."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from membership.v1 import membership_pb2 as pb
from stdnum.no import orgnr

from kontingent_cli.devstack import Stack
from services.common.grpc.auth import ORG_SCOPES
from services.membership.bootstrap import API, POLICY
from tests.e2e.helpers import OrgApi, cli_json, create_org

pytestmark = pytest.mark.e2e

SERVICE = pb.DESCRIPTOR.services_by_name["MembershipService"]
ORG_METHODS = [m for m in SERVICE.methods if m.name != "CreateOrg"]
# Methods about one member, and a request naming that member.
ABOUT_A_MEMBER = {
    "GetMember": lambda m: pb.GetMemberRequest(member_id=m),
    "UpdateMember": lambda m: pb.UpdateMemberRequest(
        member_id=m, name="Ny Navn", update_mask={"paths": ["name"]}
    ),
    "CancelMembership": lambda m: pb.CancelMembershipRequest(member_id=m),
    "SetRestriction": lambda m: pb.SetRestrictionRequest(member_id=m, restricted=True),
    "SetObjection": lambda m: pb.SetObjectionRequest(
        member_id=m, purpose="marketing", objecting=True
    ),
    "RecordLogin": lambda m: pb.RecordLoginRequest(member_id=m, kind="login"),
    "ListLogins": lambda m: pb.ListLoginsRequest(member_id=m),
    "SetConsent": lambda m: pb.SetConsentRequest(member_id=m, purpose="newsletter", granted=False),
    "ListConsents": lambda m: pb.ListConsentsRequest(member_id=m),
    "AcceptPolicy": lambda m: pb.AcceptPolicyRequest(member_id=m),
}


def request_for(method: str) -> object:
    return getattr(pb, SERVICE.methods_by_name[method].input_type.name)()


@pytest.fixture(scope="module")
def guarded(stack: Stack) -> dict[str, str]:
    return create_org(stack, "Alta Alpinklubb", "940000041")


@pytest.fixture(scope="module")
def keys(stack: Stack, guarded: dict[str, str]) -> Iterator[dict[str, OrgApi]]:
    """One client per scope, each with a key of that scope only."""
    clients = {}
    for scope in ORG_SCOPES:
        created = cli_json(
            stack, "key", "create", "--scope", scope, "--org", guarded["org_id"], "--json"
        )
        clients[scope] = OrgApi(stack, created["api_key"])
    yield clients
    for client in clients.values():
        client.close()


def test_every_method_of_the_org_api_has_a_policy() -> None:
    assert {m.name for m in SERVICE.methods} == {
        path.removeprefix(API) for path in POLICY if path.startswith(API)
    }


@pytest.mark.parametrize("method", [m.name for m in ORG_METHODS])
def test_without_a_key_every_method_is_unauthenticated(stack: Stack, method: str) -> None:
    anonymous = OrgApi(stack, "kt_0000000000000000_not-a-key")
    try:
        error = anonymous.refused(method, request_for(method))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        anonymous.close()


@pytest.mark.parametrize("method", [m.name for m in ORG_METHODS])
def test_a_key_without_the_methods_scope_is_denied(keys: dict[str, OrgApi], method: str) -> None:
    allowed = POLICY[f"{API}{method}"]
    for scope, client in keys.items():
        if scope in allowed:
            continue
        error = client.refused(method, request_for(method))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, (method, scope)


@pytest.mark.parametrize("method", sorted(ABOUT_A_MEMBER))
def test_another_orgs_member_is_not_found(
    stack: Stack, guarded: dict[str, str], method: str
) -> None:
    owner = OrgApi(stack, guarded["api_key"])
    stranger_org = create_org(stack, f"Fremmed {method}", _next_org_number())
    stranger = OrgApi(stack, stranger_org["api_key"])
    try:
        member = owner(
            "RegisterMember",
            pb.RegisterMemberRequest(
                name="Vakt Medlem", email=f"{method.lower()}@example.no", phone="+4793000001"
            ),
        )
        before = owner("GetMember", pb.GetMemberRequest(member_id=member.member_id))
        error = stranger.refused(method, ABOUT_A_MEMBER[method](member.member_id))
        assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()
        after = owner("GetMember", pb.GetMemberRequest(member_id=member.member_id))
        assert after == before  # nothing changed
        missing = owner.refused(method, ABOUT_A_MEMBER[method]("no-such-member"))
        assert missing.code() == grpc.StatusCode.NOT_FOUND
    finally:
        owner.close()
        stranger.close()


# Fresh organisation numbers for the strangers (valid MOD11, unused by other tests).
_numbers = iter(c for c in (f"9401{n:05d}" for n in range(5000)) if orgnr.is_valid(c))


def _next_org_number() -> str:
    return next(_numbers)
