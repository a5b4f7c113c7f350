"""Members' rights an org handles through the CLI: list, rectify (audited by field name),
cancel (an event), each refusing bad input and other orgs' members."""

from __future__ import annotations

import pytest

from kontingent_cli.devstack import Stack
from services.common.topics import MEMBER_STATUS_CHANGED
from tests.e2e.helpers import cli, cli_json, create_org, read_topic, register, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def rights_org(stack: Stack) -> dict[str, str]:
    return create_org(stack, "Lillehammer Langrenn", "810000023")


def test_list_pages_and_filters_by_status(stack: Stack, rights_org: dict[str, str]) -> None:
    ids = {
        register(stack, rights_org, f"Deltaker {i}", f"d{i}@example.no", f"+4790077{i:03d}")[
            "member_id"
        ]
        for i in range(3)
    }
    org = rights_org["org_id"]
    first = cli_json(stack, "member", "list", "--page-size", "2", "--org", org, "--json")
    rest = cli_json(
        stack,
        "member",
        "list",
        "--page-size",
        "2",
        "--page-token",
        first["next_page_token"],
        "--org",
        org,
        "--json",
    )
    seen = [m["member_id"] for m in first["members"] + rest.get("members", [])]
    assert set(seen) == ids and len(seen) == 3
    assert first["members"][0]["email"].endswith("@example.no")
    assert cli_json(stack, "member", "list", "--status", "lapsed", "--org", org, "--json") == {}
    bad = cli(stack, "member", "list", "--status", "asleep", "--org", org)
    assert bad.returncode == 1 and "INVALID_ARGUMENT" in bad.stderr


def test_rectification_changes_only_what_is_named_and_is_audited(
    stack: Stack, rights_org: dict[str, str]
) -> None:
    org = rights_org["org_id"]
    member = register(stack, rights_org, "Kjell Aas", "kjell@example.no", "+4790088001")
    updated = cli_json(
        stack,
        "member",
        "update",
        member["member_id"],
        "--email",
        "kjell.aas@example.no",
        "--org",
        org,
    )
    assert updated["email"] == "kjell.aas@example.no" and updated["name"] == "Kjell Aas"
    entries = cli_json(stack, "audit", "list", "--org", org, "--json")["entries"]
    [change] = [
        e
        for e in entries
        if e["action"] == "member.updated" and e["object_id"] == member["member_id"]
    ]
    assert change["fields"] == ["email"] and "kjell" not in str(change)

    bad = cli(stack, "member", "update", member["member_id"], "--phone", "12", "--org", org)
    assert bad.returncode == 1 and "phone" in bad.stderr
    other = register(stack, rights_org, "Liv Aas", "liv@example.no", "+4790088002")
    taken = cli(
        stack,
        "member",
        "update",
        other["member_id"],
        "--email",
        "KJELL.AAS@example.no",
        "--org",
        org,
    )
    assert taken.returncode == 1 and "ALREADY_EXISTS" in taken.stderr
    assert cli_json(stack, "member", "get", other["member_id"], "--org", org)["email"] == (
        "liv@example.no"
    )


def test_cancel_is_an_event_and_cannot_repeat(stack: Stack, rights_org: dict[str, str]) -> None:
    org = rights_org["org_id"]
    member = register(stack, rights_org, "Nina Bø", "nina@example.no", "+4790088003")
    cancelled = cli_json(stack, "member", "cancel", member["member_id"], "--org", org)
    assert cancelled["status"] == "cancelled"
    again = cli(stack, "member", "cancel", member["member_id"], "--org", org)
    assert again.returncode == 1 and "FAILED_PRECONDITION" in again.stderr
    wait_until(
        lambda: [
            r
            for r in read_topic(stack.broker, MEMBER_STATUS_CHANGED.name)
            if r.key == member["member_id"].encode()
        ],
        what="status event",
    )

    stranger = create_org(stack, "Gjøvik Golf", "810000031")
    foreign = cli(stack, "member", "cancel", member["member_id"], "--org", stranger["org_id"])
    assert foreign.returncode == 1 and "NOT_FOUND" in foreign.stderr


def test_restriction_and_objection_are_flags_others_can_read(
    stack: Stack, rights_org: dict[str, str]
) -> None:
    org = rights_org["org_id"]
    member = register(stack, rights_org, "Ole Berg", "ole.berg@example.no", "+4790088004")
    mid = member["member_id"]
    restricted = cli_json(stack, "member", "restrict", mid, "--org", org)
    assert restricted["restricted"] is True
    objected = cli_json(stack, "member", "object", mid, "--purpose", "marketing", "--org", org)
    assert objected["objections"] == ["marketing"] and objected["restricted"] is True
    lifted = cli_json(stack, "member", "restrict", mid, "--lift", "--org", org)
    assert "restricted" not in lifted  # false: proto3 leaves it out
    withdrawn = cli_json(
        stack, "member", "object", mid, "--purpose", "marketing", "--withdraw", "--org", org
    )
    assert "objections" not in withdrawn

    actions = [
        e["action"]
        for e in cli_json(stack, "audit", "list", "--org", org, "--json")["entries"]
        if e["object_id"] == mid
    ]
    assert actions.count("member.restriction-set") == 2
    assert actions.count("member.objection-set") == 2
    bad = cli(stack, "member", "object", mid, "--purpose", "Marketing!", "--org", org)
    assert bad.returncode == 1 and "purpose" in bad.stderr
