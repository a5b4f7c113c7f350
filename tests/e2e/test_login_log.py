"""The login log through the CLI: the last 10 sessions are kept, details are sealed at rest,
exported with the member and erased with them."""

from __future__ import annotations

import pytest

from kontingent_cli.devstack import Stack
from tests.e2e.helpers import cli, cli_json, create_org, database_bytes, erase, register

pytestmark = pytest.mark.e2e


def test_the_eleventh_login_removes_the_oldest(stack: Stack) -> None:
    org = create_org(stack, "Narvik Nordic", "810000058")
    member = register(stack, org, "Per Strand", "per.strand@example.no", "+4790099001")
    mid, oid = member["member_id"], org["org_id"]
    for i in range(11):
        cli_json(
            stack,
            "member",
            "record-login",
            mid,
            "--device",
            f"Phone {i}",
            "--ip",
            f"203.0.113.{i + 1}",
            "--city",
            "Narvik",
            "--org",
            oid,
        )
    logins = cli_json(stack, "member", "logins", mid, "--org", oid)
    assert len(logins) == 10
    assert [entry["device"] for entry in logins] == [f"Phone {i}" for i in range(10, 0, -1)]

    assert b"203.0.113.7" not in database_bytes(stack)["membership"]  # sealed at rest
    bad = cli(
        stack,
        "member",
        "record-login",
        mid,
        "--kind",
        "teleport",
        "--ip",
        "999.1.1.1",
        "--org",
        oid,
    )
    assert bad.returncode == 1 and "kind" in bad.stderr and "ip" in bad.stderr
    stranger = create_org(stack, "Bodø Boccia", "810000066")
    foreign = cli(stack, "member", "logins", mid, "--org", stranger["org_id"])
    assert foreign.returncode == 1 and "NOT_FOUND" in foreign.stderr

    exported = cli_json(stack, "member", "export", mid, "--org", oid)
    assert len(exported["stores"]["membership"]["login_log"]) == 10
    membership = erase(stack, oid, mid)["membership"]
    assert any(
        item["category"] == "login-log" and item["count"] == 10 for item in membership["removed"]
    )
