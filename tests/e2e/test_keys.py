"""API keys and the audit log, through the CLI: scopes are enforced, a revoked or rotated-out
key stops working at once, and the audit log names fields, never values."""

from __future__ import annotations

import pytest

from kontingent_cli.devstack import Stack
from tests.e2e.helpers import cli, cli_json, create_org, register

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def keys_org(stack: Stack) -> dict[str, str]:
    return create_org(stack, "Drammen Dykkerklubb", "889640782")


def key_cmd(stack: Stack, org: dict[str, str], *args: str) -> object:
    return cli_json(stack, "key", *args, "--org", org["org_id"], "--json")


def test_a_read_only_key_reads_but_cannot_register(stack: Stack, keys_org: dict[str, str]) -> None:
    created = key_cmd(stack, keys_org, "create", "--scope", "members:read", "--label", "reports")
    assert created["key"]["scopes"] == ["members:read"]
    read_only = created["api_key"]
    member = register(stack, keys_org, "Eva Dahl", "eva@example.no", "+4790055667")

    seen = cli_json(stack, "member", "get", member["member_id"], api_key=read_only)
    assert seen["email"] == "eva@example.no"
    refused = cli(
        stack,
        "member",
        "register",
        "--name",
        "X Y",
        "--email",
        "x@example.no",
        "--phone",
        "+4790055668",
        api_key=read_only,
    )
    assert refused.returncode == 1 and "PERMISSION_DENIED" in refused.stderr
    listing = cli(stack, "key", "list", "--json", api_key=read_only)
    assert listing.returncode == 1 and "PERMISSION_DENIED" in listing.stderr


def test_revoked_and_rotated_keys_stop_working_at_once(
    stack: Stack, keys_org: dict[str, str]
) -> None:
    spare = key_cmd(
        stack,
        keys_org,
        "create",
        "--scope",
        "members:read",
        "--scope",
        "members:write",
        "--label",
        "website",
    )
    assert cli(stack, "member", "get", "nobody", api_key=spare["api_key"]).returncode == 1

    rotated = key_cmd(stack, keys_org, "rotate", spare["key"]["key_id"])
    assert rotated["key"]["label"] == "website"
    assert rotated["key"]["scopes"] == ["members:read", "members:write"]
    old = cli(stack, "member", "get", "nobody", api_key=spare["api_key"])
    assert old.returncode == 1 and "UNAUTHENTICATED" in old.stderr
    new = cli(stack, "member", "get", "nobody", api_key=rotated["api_key"])
    assert "NOT_FOUND" in new.stderr  # authenticated; the member just is not there

    key_cmd(stack, keys_org, "revoke", rotated["key"]["key_id"])
    gone = cli(stack, "member", "get", "nobody", api_key=rotated["api_key"])
    assert "UNAUTHENTICATED" in gone.stderr
    listed = key_cmd(stack, keys_org, "list", "--all")
    by_id = {k["key_id"]: k for k in listed}
    assert by_id[spare["key"]["key_id"]]["revoked_at"]
    assert all("api_key" not in k and "secret" not in str(k) for k in listed)


def test_the_last_admin_key_cannot_be_revoked_and_bad_input_is_refused(
    stack: Stack, keys_org: dict[str, str]
) -> None:
    [first] = [k for k in key_cmd(stack, keys_org, "list") if k["label"] == "first key"]
    last = cli(stack, "key", "revoke", first["key_id"], "--org", keys_org["org_id"])
    assert last.returncode == 1 and "FAILED_PRECONDITION" in last.stderr
    unknown = cli(stack, "key", "create", "--scope", "superuser", "--org", keys_org["org_id"])
    assert unknown.returncode == 1 and "INVALID_ARGUMENT" in unknown.stderr
    assert "superuser" in unknown.stderr

    other = create_org(stack, "Halden Historielag", "982463718")
    foreign = cli(stack, "key", "revoke", first["key_id"], "--org", other["org_id"])
    assert foreign.returncode == 1 and "NOT_FOUND" in foreign.stderr


def test_audit_log_names_fields_never_values(stack: Stack, keys_org: dict[str, str]) -> None:
    member = register(stack, keys_org, "Gro Lund", "gro.lund@example.no", "+4790066778")
    page = cli_json(stack, "audit", "list", "--org", keys_org["org_id"], "--json")
    actions = [e["action"] for e in page["entries"]]
    assert "org.created" in actions and "member.registered" in actions
    [signup] = [e for e in page["entries"] if e["object_id"] == member["member_id"]]
    assert signup["fields"] == ["name", "email", "phone", "language"]
    assert signup["actor"].startswith("api-key:")
    assert "gro" not in str(page).lower() and "90066778" not in str(page)

    first = cli_json(
        stack, "audit", "list", "--page-size", "2", "--org", keys_org["org_id"], "--json"
    )
    second = cli_json(
        stack,
        "audit",
        "list",
        "--page-size",
        "2",
        "--page-token",
        first["next_page_token"],
        "--org",
        keys_org["org_id"],
        "--json",
    )
    assert {e["id"] for e in first["entries"]}.isdisjoint(e["id"] for e in second["entries"])
    bad = cli(stack, "audit", "list", "--page-token", "nonsense", "--org", keys_org["org_id"])
    assert bad.returncode == 1 and "page_token" in bad.stderr

    exported = cli_json(stack, "member", "export", member["member_id"], "--org", keys_org["org_id"])
    assert exported["stores"]["membership"]["audit"][0]["action"] == "member.registered"
