"""Membership types and the status lifecycle through the real stack: an org creates a type with
the CLI, a member signs up, billing's events (put on its topics as billing would) activate and
lapse the membership, and every change is announced on membership's status topic."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import pytest
from billing.v1.events_pb2 import DunningExhausted, PaymentSucceeded
from events.v1.envelope_pb2 import Envelope
from membership.v1 import membership_pb2 as pb
from membership.v1.events_pb2 import MemberStatusChanged

from kontingent_cli.devstack import Stack
from services.common.envelope import new_envelope
from services.common.topics import DUNNING_EXHAUSTED, MEMBER_STATUS_CHANGED, PAYMENT_SUCCEEDED
from tests.e2e.helpers import (
    OrgApi,
    cli,
    cli_json,
    create_org,
    events,
    publish,
    register,
    wait_until,
)

pytestmark = pytest.mark.e2e


def oslo_today() -> date:
    return datetime.now(ZoneInfo("Europe/Oslo")).date()


@pytest.fixture(scope="module")
def club(stack: Stack) -> dict[str, str]:
    return create_org(stack, "Tromsø Turlag", "927351013")


@pytest.fixture(scope="module")
def types_org(stack: Stack) -> dict[str, str]:
    return create_org(stack, "Hamar Håndball", "927351021")


@pytest.fixture
def api(stack: Stack, types_org: dict[str, str]) -> Iterator[OrgApi]:
    org_api = OrgApi(stack, types_org["api_key"])
    yield org_api
    org_api.close()


def member(stack: Stack, org: dict[str, str], member_id: str) -> dict[str, Any]:
    return dict(cli_json(stack, "member", "get", member_id, "--org", org["org_id"]))


def status_events(stack: Stack, member_id: str) -> list[tuple[Envelope, MemberStatusChanged]]:
    return [
        (envelope, changed)
        for envelope, changed in events(stack, MEMBER_STATUS_CHANGED, MemberStatusChanged)
        if changed.member_id == member_id
    ]


def test_billing_events_drive_the_status_and_each_change_is_an_event(
    stack: Stack, club: dict[str, str]
) -> None:
    org = club["org_id"]
    created = cli_json(
        stack,
        "type",
        "create",
        "Ordinær",
        "--period",
        "yearly",
        "--kind",
        "fixed",
        "--rollover",
        "10-01",
        "--grace-days",
        "30",
        "--org",
        org,
        "--json",
    )
    assert {k: created[k] for k in ("name", "period", "kind", "rollover", "grace_days")} == {
        "name": "Ordinær",
        "period": "yearly",
        "kind": "fixed",
        "rollover": "10-01",
        "grace_days": 30,
    }
    assert cli_json(stack, "type", "list", "--org", org, "--json") == [created]
    table = cli(stack, "type", "list", "--org", org)
    assert table.returncode == 0 and "Ordinær" in table.stdout and "10-01" in table.stdout

    signed_up = register(stack, club, "Eirik Hansen", "eirik@example.no", "+4790066001")
    mid = signed_up["member_id"]
    assert signed_up["status"] == "pending" and "period_end" not in signed_up
    assert signed_up["membership_type_id"] == created["type_id"]  # the org's only type

    paid = new_envelope(
        "billing.payment-succeeded",
        PaymentSucceeded(
            invoice_id=str(uuid.uuid4()),
            member_id=mid,
            org_id=org,
            amount_ore=50000,
            currency="NOK",
        ),
        org_id=org,
        subject_id=mid,
    )
    today = oslo_today()
    publish(stack, PAYMENT_SUCCEEDED, paid)
    active = wait_until(
        lambda: (m := member(stack, club, mid))["status"] == "active" and m,
        what="the payment to activate the member",
    )
    # Fixed yearly: to Dec 31; from the rollover date (Oct 1) on, to Dec 31 of next year.
    last_year = today.year + (1 if (today.month, today.day) >= (10, 1) else 0)
    assert active["period_start"] == today.isoformat()
    assert active["period_end"] == f"{last_year}-12-31"
    assert active["membership_type_id"] == created["type_id"]

    [(envelope, change)] = wait_until(
        lambda: status_events(stack, mid), what="the status event of the payment"
    )
    assert (change.old_status, change.new_status, change.reason) == ("pending", "active", "payment")
    assert change.period_end == f"{last_year}-12-31" and change.org_id == org
    assert envelope.causation_id == paid.event_id  # traceable to billing's event

    publish(stack, PAYMENT_SUCCEEDED, paid)  # redelivered: no second renewal
    publish(
        stack,
        DUNNING_EXHAUSTED,
        new_envelope(
            "billing.dunning-exhausted",
            DunningExhausted(invoice_id=str(uuid.uuid4()), member_id=mid, org_id=org),
            org_id=org,
            subject_id=mid,
        ),
    )
    wait_until(
        lambda: member(stack, club, mid)["status"] == "lapsed", what="dunning to lapse the member"
    )
    changes = wait_until(
        lambda: len(found := status_events(stack, mid)) >= 2 and found,
        what="the status event of the dunning",
    )
    assert [(c.old_status, c.new_status, c.reason) for _, c in changes] == [
        ("pending", "active", "payment"),
        ("active", "lapsed", "dunning"),
    ]
    assert member(stack, club, mid)["period_end"] == f"{last_year}-12-31"

    entries = cli_json(stack, "audit", "list", "--org", org, "--json")["entries"]
    assert [(e["actor"], e["action"]) for e in entries if e["object_id"] == mid][:2] == [
        ("service", "member.status-changed"),
        ("service", "member.renewed"),
    ]
    assert any(
        e["action"] == "membership-type.created" and e["object_id"] == created["type_id"]
        for e in entries
    )
    assert stack.metric("membership", "membership_status_changes_total", {"reason": "dunning"}) >= 1
    listed = cli_json(stack, "member", "list", "--status", "lapsed", "--org", org, "--json")
    assert [m["member_id"] for m in listed["members"]] == [mid]


BAD_TYPES = [
    (pb.CreateMembershipTypeRequest(name="", period="yearly", kind="fixed"), "name"),
    (pb.CreateMembershipTypeRequest(name="x" * 101, period="yearly", kind="fixed"), "name"),
    (pb.CreateMembershipTypeRequest(name="Bad", period="weekly", kind="fixed"), "period"),
    (pb.CreateMembershipTypeRequest(name="Bad", period="yearly", kind="sliding"), "kind"),
    (
        pb.CreateMembershipTypeRequest(
            name="Bad", period="yearly", kind="rolling", rollover="10-01"
        ),
        "rollover",
    ),
    (
        pb.CreateMembershipTypeRequest(name="Bad", period="yearly", kind="fixed", rollover="13-01"),
        "rollover",
    ),
    (
        pb.CreateMembershipTypeRequest(name="Bad", period="yearly", kind="fixed", grace_days=400),
        "grace_days",
    ),
]


@pytest.mark.parametrize(("request_", "field"), BAD_TYPES)
def test_bad_types_are_refused_naming_the_field(
    stack: Stack, api: OrgApi, request_: pb.CreateMembershipTypeRequest, field: str
) -> None:
    before = api("ListMembershipTypes", pb.ListMembershipTypesRequest()).types
    refused = api.refused("CreateMembershipType", request_)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.details() or "").startswith(f"{field}:")
    assert api("ListMembershipTypes", pb.ListMembershipTypesRequest()).types == before


def test_the_cli_shows_what_is_wrong(stack: Stack, types_org: dict[str, str]) -> None:
    options = ["--kind", "rolling", "--rollover", "10-01", "--grace-days", "-1"]
    bad = cli(stack, "type", "create", "Bad", *options, "--org", types_org["org_id"])
    assert bad.returncode == 1 and "INVALID_ARGUMENT" in bad.stderr
    assert "rollover" in bad.stderr and "grace_days" in bad.stderr
    listed = cli_json(stack, "type", "list", "--org", types_org["org_id"], "--json")
    assert "Bad" not in [t["name"] for t in listed]


def test_creating_types_needs_the_admin_scope_and_a_new_name(
    stack: Stack, types_org: dict[str, str], api: OrgApi
) -> None:
    org = types_org["org_id"]
    reader = cli_json(stack, "key", "create", "--scope", "members:read", "--org", org, "--json")
    read_only = OrgApi(stack, reader["api_key"])
    try:
        request = pb.CreateMembershipTypeRequest(name="Junior", period="monthly", kind="rolling")
        assert read_only.refused("CreateMembershipType", request).code() == (
            grpc.StatusCode.PERMISSION_DENIED
        )
        created = api("CreateMembershipType", request)
        assert created.type_id and created.grace_days == 0
        listed = read_only("ListMembershipTypes", pb.ListMembershipTypesRequest()).types
        assert [t.type_id for t in listed] == [created.type_id]

        for name in ("Junior", "  junior "):
            again = api.refused(
                "CreateMembershipType",
                pb.CreateMembershipTypeRequest(name=name, period="yearly", kind="fixed"),
            )
            assert again.code() == grpc.StatusCode.ALREADY_EXISTS
            assert created.type_id in (again.details() or "")
        assert len(api("ListMembershipTypes", pb.ListMembershipTypesRequest()).types) == 1
    finally:
        read_only.close()


def test_sign_up_picks_the_type_and_members_list_by_type(stack: Stack) -> None:
    org = create_org(stack, "Gjøvik Golfklubb", "940000068")
    api = OrgApi(stack, org["api_key"])
    try:
        untyped = api(
            "RegisterMember",
            pb.RegisterMemberRequest(name="Før Typer", email="for@example.no", phone="+4794000001"),
        )
        assert untyped.membership_type_id == ""  # the org had no types yet
        junior = api(
            "CreateMembershipType",
            pb.CreateMembershipTypeRequest(name="Junior", period="yearly", kind="rolling"),
        )
        senior = api(
            "CreateMembershipType",
            pb.CreateMembershipTypeRequest(name="Senior", period="yearly", kind="fixed"),
        )
        ambiguous = api.refused(
            "RegisterMember",
            pb.RegisterMemberRequest(
                name="Uten Type", email="uten@example.no", phone="+4794000002"
            ),
        )
        assert ambiguous.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "membership_type_id: required" in ambiguous.details()
        unknown = api.refused(
            "RegisterMember",
            pb.RegisterMemberRequest(
                name="Feil Type",
                email="feil@example.no",
                phone="+4794000003",
                membership_type_id="no-such-type",
            ),
        )
        assert "membership_type_id: not a membership type of this org" in unknown.details()
        chosen = api(
            "RegisterMember",
            pb.RegisterMemberRequest(
                name="Med Type",
                email="med@example.no",
                phone="+4794000004",
                membership_type_id=junior.type_id,
            ),
        )
        assert chosen.membership_type_id == junior.type_id
        listed = cli_json(
            stack, "member", "list", "--type", junior.type_id, "--org", org["org_id"], "--json"
        )
        assert [m["member_id"] for m in listed["members"]] == [chosen.member_id]
        none_senior = api("ListMembers", pb.ListMembersRequest(membership_type_id=senior.type_id))
        assert list(none_senior.members) == []
    finally:
        api.close()
