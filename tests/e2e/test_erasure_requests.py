"""An erasure request through the CLI against the four services: filed and verified by the
org's admin, driven by the erasure service through every store to the key, with a certificate
that verifies; the member is gone from membership."""

from __future__ import annotations

import pytest

from kontingent_cli.devstack import Stack
from tests.e2e.helpers import cli, cli_json, create_org, emails_to, register, wait_until

pytestmark = pytest.mark.e2e


def test_an_erasure_request_completes_with_a_certificate_that_verifies(stack: Stack) -> None:
    org = create_org(stack, "Bergen Roklubb", "950000007")
    member = register(stack, org, "Siri Havn", "siri.havn@example.no", "91234570")
    wait_until(lambda: emails_to(stack, "siri.havn@example.no"), what="welcome email")
    member_id, org_id = member["member_id"], org["org_id"]

    filed = cli_json(stack, "erasure", "request", "--org", org_id, "--member", member_id)
    assert filed["status"] == "identity_verified"
    assert filed["identity_method"] == "admin-attestation"

    def completed() -> dict | None:
        status = cli_json(stack, "erasure", "status", filed["request_id"], "--org", org_id)
        return status if status["status"] == "completed" else None

    done = wait_until(completed, timeout_s=60, what="the erasure to complete")
    assert [t["target"] for t in done["targets"]][-1] == "keyring"
    assert {t["status"] for t in done["targets"]} == {"done"}
    assert [h["status"] for h in done["history"]] == [
        "received",
        "identity_verified",
        "in_progress",
        "completed",
    ]

    certificate = cli_json(stack, "erasure", "certificate", filed["request_id"], "--org", org_id)
    assert certificate["verified"] and not certificate["problems"]
    assert certificate["entries"][-1]["entry"]["action"] == "key-shredded"
    printed = cli(stack, "erasure", "certificate", filed["request_id"], "--org", org_id)
    assert printed.returncode == 0 and "verified: 8 entries" in printed.stdout

    gone = cli(stack, "member", "get", member_id, "--org", org_id)
    assert gone.returncode == 1 and "NOT_FOUND" in gone.stderr
    again = cli(stack, "erasure", "request", "--org", org_id, "--member", member_id)
    assert again.returncode == 1 and "already erased" in again.stderr


def test_restriction_and_objection_requests_are_set_at_membership(stack: Stack) -> None:
    org = create_org(stack, "Tromsø Sjakklubb", "950000015")
    member = register(stack, org, "Ola Fjell", "ola.fjell@example.no", "91234571")
    member_id, org_id = member["member_id"], org["org_id"]

    refused = cli(
        stack, "erasure", "request", "--type", "objection", "--org", org_id, "--member", member_id
    )
    assert refused.returncode == 1 and "INVALID_ARGUMENT" in refused.stderr
    assert "purpose" in refused.stderr

    for args in (["--type", "restriction"], ["--type", "objection", "--purpose", "marketing"]):
        filed = cli_json(stack, "erasure", "request", *args, "--org", org_id, "--member", member_id)

        def completed(request_id: str = filed["request_id"]) -> dict | None:
            status = cli_json(stack, "erasure", "status", request_id, "--org", org_id)
            return status if status["status"] == "completed" else None

        done = wait_until(completed, timeout_s=30, what=f"the {args[1]} to complete")
        assert [h["status"] for h in done["history"]][-1] == "completed"

    shown = cli_json(stack, "member", "get", member_id, "--org", org_id)
    assert shown["restricted"] is True
    assert shown["objections"] == ["marketing"]


def test_the_subprocessors_are_listed(stack: Stack) -> None:
    org = create_org(stack, "Hamar Skiklubb", "950000023")
    listed = cli_json(stack, "erasure", "subprocessors", "--org", org["org_id"])
    assert {s["erasure_target"] for s in listed["subprocessors"]} == {
        "stripe",
        "sendgrid",
        "twilio",
    }
    assert listed["version"] >= 1 and listed["last_changed"]
    printed = cli(stack, "erasure", "subprocessors", "--org", org["org_id"])
    assert printed.returncode == 0 and "Stripe" in printed.stdout


def test_a_request_filed_unverified_can_be_extended_then_verified(stack: Stack) -> None:
    org = create_org(stack, "Ålesund Seilforening", "950000104")
    member = register(stack, org, "Ola Vik", "ola.vik@example.no", "91234575")
    member_id, org_id = member["member_id"], org["org_id"]

    filed = cli_json(
        stack, "erasure", "request", "--org", org_id, "--member", member_id, "--no-verify"
    )
    assert filed["status"] == "received"  # waits for the identity check
    extend = ("erasure", "extend", filed["request_id"], "--org", org_id, "--months", "2")
    untold = cli(stack, *extend, "--reason", "mange arkiver å gå gjennom")
    assert untold.returncode != 0 and "member_told" in untold.stderr
    extended = cli_json(stack, *extend, "--reason", "mange arkiver å gå gjennom", "--member-told")
    assert extended["extended_months"] == 2 and extended["due_date"] > filed["due_date"]

    verified = cli_json(
        stack,
        "erasure",
        "verify",
        filed["request_id"],
        "--org",
        org_id,
        "--method",
        "in-person",
        "--attestation",
        "saw the member's ID card",
    )
    assert (verified["status"], verified["identity_method"]) == ("identity_verified", "in-person")

    def completed() -> dict | None:
        status = cli_json(stack, "erasure", "status", filed["request_id"], "--org", org_id)
        return status if status["status"] == "completed" else None

    wait_until(completed, timeout_s=60, what="the erasure to complete")
