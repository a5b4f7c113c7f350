"""Authentication and tenant scoping: no key, no entry; another org's member is not there."""

from __future__ import annotations

import grpc
import pytest
from membership.v1 import membership_pb2, membership_pb2_grpc
from privacy.v1 import data_subject_pb2, data_subject_pb2_grpc, keyring_pb2, keyring_pb2_grpc

from kontingent_cli.devstack import Stack
from tests.e2e.helpers import cli, cli_json, create_org, register

pytestmark = pytest.mark.e2e


def test_without_valid_key_is_unauthenticated(stack: Stack) -> None:
    with grpc.insecure_channel(stack.grpc_addr("membership")) as channel:
        stub = membership_pb2_grpc.MembershipServiceStub(channel)
        with pytest.raises(grpc.RpcError) as missing:
            stub.GetMember(membership_pb2.GetMemberRequest(member_id="x"), timeout=5)
        assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
    forged = (("authorization", "Bearer kt_0000_forged"),)
    for service in ("membership", "billing", "notify", "erasure"):
        with grpc.insecure_channel(stack.grpc_addr(service)) as channel:
            with pytest.raises(grpc.RpcError) as denied:
                data_subject_pb2_grpc.DataSubjectStoreStub(channel).Export(
                    data_subject_pb2.SubjectRequest(subject_id="someone"),
                    timeout=5,
                    metadata=forged,
                )
            assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED, service
    result = cli(stack, "member", "get", "someone", api_key="kt_0000_forged")
    assert result.returncode == 1 and "UNAUTHENTICATED" in result.stderr


def test_other_orgs_member_is_not_found_and_untouchable(stack: Stack) -> None:
    a = create_org(stack, "Bergen Bridgeklubb", "974760673")
    b = create_org(stack, "Trondheim Turlag", "983887457")
    member = register(stack, a, "Siri Vik", "siri@example.no", "+4741234567")
    member_id = member["member_id"]

    seen_by_b = cli(stack, "member", "get", member_id, "--org", b["org_id"])
    assert seen_by_b.returncode == 1 and "NOT_FOUND" in seen_by_b.stderr
    export_by_b = cli_json(stack, "member", "export", member_id, "--org", b["org_id"])
    assert "siri" not in str(export_by_b).lower()

    with grpc.insecure_channel(stack.grpc_addr("erasure")) as channel:
        with pytest.raises(grpc.RpcError) as shred:
            keyring_pb2_grpc.KeyringStub(channel).ShredKey(
                keyring_pb2.KeyRequest(subject_id=member_id),
                timeout=5,
                metadata=(("authorization", f"Bearer {b['api_key']}"),),
            )
        assert shred.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as get_key:
            keyring_pb2_grpc.KeyringStub(channel).GetKey(
                keyring_pb2.KeyRequest(subject_id=member_id),
                timeout=5,
                metadata=(("authorization", f"Bearer {a['api_key']}"),),
            )
        assert get_key.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # A's member is intact after B's attempts.
    still = cli_json(stack, "member", "get", member_id, "--org", a["org_id"])
    assert still["email"] == "siri@example.no"


def test_an_org_key_cannot_erase_or_shred_around_a_tracked_request(stack: Stack) -> None:
    """Only the erasure service erases and shreds: a direct call would leave no ledger entry
    or certificate, and a key shredded outside a request would block it."""
    org = create_org(stack, "Bergen Bueskyttere", "955500008")
    member_id = register(stack, org, "Åse Bue", "ase.bue@example.no", "+4741234599")["member_id"]
    own_key = (("authorization", f"Bearer {org['api_key']}"),)
    for service in ("membership", "billing", "notify", "erasure"):
        with grpc.insecure_channel(stack.grpc_addr(service)) as channel:
            with pytest.raises(grpc.RpcError) as erase:
                data_subject_pb2_grpc.DataSubjectStoreStub(channel).Erase(
                    data_subject_pb2.SubjectRequest(subject_id=member_id),
                    timeout=5,
                    metadata=own_key,
                )
            assert erase.value.code() == grpc.StatusCode.PERMISSION_DENIED, service
    with grpc.insecure_channel(stack.grpc_addr("erasure")) as channel:
        with pytest.raises(grpc.RpcError) as shred:
            keyring_pb2_grpc.KeyringStub(channel).ShredKey(
                keyring_pb2.KeyRequest(subject_id=member_id), timeout=5, metadata=own_key
            )
        assert shred.value.code() == grpc.StatusCode.PERMISSION_DENIED

    exported = cli_json(stack, "member", "export", member_id, "--org", org["org_id"])["stores"]
    assert (
        exported["membership"]["member"]["personal_data"]["email"]["value"] == "ase.bue@example.no"
    )
    assert not exported["erasure"]["data_key"]["shredded_at"]


def test_sign_ups_of_two_orgs_at_once_all_succeed(stack: Stack) -> None:
    """Sign-ups are written in groups; a group mixing orgs must pass row-level security."""
    orgs = [
        create_org(stack, "Moss Modellfly", "810000007"),
        create_org(stack, "Skien Skiklubb", "810000015"),
    ]
    with grpc.insecure_channel(stack.grpc_addr("membership")) as channel:
        stub = membership_pb2_grpc.MembershipServiceStub(channel)
        calls = [
            stub.RegisterMember.future(
                membership_pb2.RegisterMemberRequest(
                    name=f"Medlem {i}", email=f"m{i}@example.no", phone=f"+47901{i:05d}"
                ),
                timeout=10,
                metadata=(("authorization", f"Bearer {orgs[i % 2]['api_key']}"),),
            )
            for i in range(30)
        ]
        members = [call.result() for call in calls]
    assert [m.org_id for m in members] == [orgs[i % 2]["org_id"] for i in range(30)]
