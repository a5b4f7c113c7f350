"""Retention profiles through the CLI and gRPC: an org loads a shipped profile, and
membership's sweep enforces it on the member's sessions; a malformed file is refused with its
rule and field named and nothing stored; another org's profile is not found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from membership.v1 import membership_pb2
from privacy.v1 import retention_pb2, retention_pb2_grpc

from kontingent_cli.devstack import Stack
from tests.e2e.helpers import OrgApi, cli, create_org, register, wait_until

pytestmark = pytest.mark.e2e

BAD = """\
name: rovers
seed: Retention Rovers' personvernerklæring
version: 1
rules:
  - category: login-log
    keep_last: 0
    action: delete
    basis: "GDPR art. 6(1)(f): security"
    source: Vi lagrer bare den siste innloggingen.
"""


def days_ago(days: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC) - timedelta(days=days))
    return stamp


def test_an_org_loads_smartlapper_and_the_sweep_enforces_it(stack: Stack, tmp_path: Path) -> None:
    org = create_org(stack, "Retention Rovers", "980000028")
    oid = org["org_id"]
    mid = register(stack, org, "Kari Rover", "kari.rover@example.no", "+4790099101")["member_id"]
    members = OrgApi(stack, org["api_key"])
    retention = OrgApi(stack, org["api_key"], "erasure", retention_pb2_grpc.RetentionStub)
    try:
        for age, ip in ((600, "203.0.113.1"), (40, "203.0.113.2"), (10, "203.0.113.3")):
            members(
                "RecordLogin",
                membership_pb2.RecordLoginRequest(
                    member_id=mid, kind="login", at=days_ago(age), device="iPhone", ip=ip
                ),
            )

        bad = tmp_path / "rovers.yaml"
        bad.write_text(BAD, encoding="utf-8")
        refused = cli(stack, "retention", "load", str(bad), "--org", oid)
        assert refused.returncode == 1 and "INVALID_ARGUMENT" in refused.stderr
        assert "rovers.yaml: rules[0] (login-log).keep_last: Input should be" in refused.stderr
        nothing = retention("GetProfile", retention_pb2.GetProfileRequest())
        assert not nothing.loaded and not nothing.history

        loaded = cli(stack, "retention", "load", "smartlapper", "--org", oid)
        assert loaded.returncode == 0 and "ip-location" in loaded.stdout, loaded.stderr

        # The sweep (each second in the test stack): sessions go after 18 months, IP
        # addresses after 30 days.
        def swept() -> list[tuple[str, str]] | None:
            entries = members("ListLogins", membership_pb2.ListLoginsRequest(member_id=mid))
            found = [(e.ip, e.city) for e in entries.entries]
            return found if len(found) == 2 and found[1][0] == "" else None

        assert wait_until(swept, 15, "the retention sweep") == [("203.0.113.3", ""), ("", "")]
        audit = members("ListAuditEntries", membership_pb2.ListAuditEntriesRequest())
        [entry] = [e for e in audit.entries if e.action == "retention.swept"]
        assert list(entry.fields) == [
            "profile:smartlapper:v1",
            "ip-location:delete:1",
            "login-log:delete:1",
        ]

        active = retention("GetProfile", retention_pb2.GetProfileRequest(org_id=oid))
        assert (active.profile.name, active.active.revision, active.active.origin) == (
            "smartlapper",
            1,
            "shipped",
        )
        foreign = retention.refused(
            "GetProfile", retention_pb2.GetProfileRequest(org_id="an-org-of-someone-else")
        )
        assert foreign.code() == grpc.StatusCode.NOT_FOUND
        unknown = retention.refused(
            "LoadProfile", retention_pb2.LoadProfileRequest(name="smartlappers")
        )
        assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "name: no shipped profile 'smartlappers'" in (unknown.details() or "")
    finally:
        members.close()
        retention.close()
