"""Consents per purpose: granted and withdrawn with history and events, refused for purposes
no form asks for, other orgs and read-only keys; erased with the member."""

from __future__ import annotations

import grpc
import pytest
from events.v1.envelope_pb2 import Envelope
from membership.v1 import events_pb2, membership_pb2_grpc
from membership.v1 import membership_pb2 as pb

from kontingent_cli.devstack import Stack
from services.common.topics import CONSENT_CHANGED
from tests.e2e.club_form import club_fixtures, signup
from tests.e2e.helpers import (
    OrgApi,
    cli_json,
    create_org,
    erase,
    events,
    wait_until,
)

pytestmark = pytest.mark.e2e


club, api = club_fixtures("Harstad Håndball", "940000084")


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

    def consent_events() -> list[tuple[Envelope, events_pb2.ConsentChanged]] | None:
        found = [
            (envelope, changed)
            for envelope, changed in events(stack, CONSENT_CHANGED, events_pb2.ConsentChanged)
            if changed.member_id == member.member_id
        ]
        return found if len(found) == 3 else None

    changes = wait_until(consent_events, what="three consent-changed events")
    assert [(c.purpose, c.granted, c.source) for _, c in changes] == [
        ("newsletter", True, "member"),
        ("photos", True, "member"),
        ("newsletter", False, "unsubscribe"),
    ]
    # Events carry ids and facts, never contact details.
    assert all(b"samtykke@" not in envelope.SerializeToString() for envelope, _ in changes)


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


def test_erase_removes_consents(stack: Stack, club: dict[str, str], api: OrgApi) -> None:
    member = api(
        "RegisterMember",
        signup(email="glemt@example.no", phone="+4791000007", consents=["photos", "newsletter"]),
    )
    membership = erase(stack, club["org_id"], member.member_id)["membership"]
    removed = {item["category"]: item.get("count", 0) for item in membership["removed"]}
    assert removed.get("consents") == 2, membership


def test_a_service_withdraws_a_consent_on_the_members_behalf_and_nothing_more(
    stack: Stack, club: dict[str, str], api: OrgApi
) -> None:
    """What notify does for an unsubscribe link or an SMS STOP: withdraw, never grant."""
    member = api("RegisterMember", signup(email="avmeld@example.no", phone="+4791000009"))
    org = club["org_id"]
    cli_json(stack, "consent", "grant", member.member_id, "newsletter", "--org", org, "--json")
    channel = grpc.insecure_channel(stack.grpc_addr("membership"))
    directory = membership_pb2_grpc.InternalDirectoryStub(channel)
    internal = (("authorization", f"Bearer {stack.secrets['INTERNAL_TOKEN']}"),)
    request = pb.WithdrawConsentRequest(
        org_id=org, member_id=member.member_id, purpose="newsletter", source="unsubscribe"
    )
    try:
        with pytest.raises(grpc.RpcError) as denied:  # an org's key may not call it
            directory.WithdrawConsent(request, metadata=api.metadata, timeout=10)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as bad:
            directory.WithdrawConsent(
                pb.WithdrawConsentRequest(
                    org_id=org, member_id=member.member_id, purpose="newsletter", source="admin"
                ),
                metadata=internal,
                timeout=10,
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "source: one of unsubscribe, spam-report, sms-stop" in bad.value.details()

        state = directory.WithdrawConsent(request, metadata=internal, timeout=10)
        assert list(state.granted) == []
        evidence = directory.GetConsents(
            pb.GetContactRequest(org_id=org, member_id=member.member_id),
            metadata=internal,
            timeout=10,
        )
        assert [(c.purpose, c.granted, c.source) for c in evidence.history] == [
            ("newsletter", True, "member"),
            ("newsletter", False, "unsubscribe"),
        ]
        with pytest.raises(grpc.RpcError) as missing:
            directory.WithdrawConsent(
                pb.WithdrawConsentRequest(
                    org_id=org, member_id="no-such-member", purpose="newsletter", source="sms-stop"
                ),
                metadata=internal,
                timeout=10,
            )
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        channel.close()
