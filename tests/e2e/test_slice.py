"""The walking skeleton's slice, through the CLI only: org, sign-up, invoice, welcome email,
export from every store, erasure everywhere with the key shredded last."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from kontingent_cli.devstack import Stack
from tests.e2e.helpers import (
    KONTINGENT,
    cli,
    cli_json,
    create_org,
    emails_to,
    erase,
    export_once_invoiced,
    register,
    wait_until,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="package")
def org(stack: Stack) -> dict[str, str]:
    created = create_org(stack, "Oslo Sjakklubb", "916476507")
    assert created["api_key"].startswith("kt_")
    return created


def test_the_installed_console_script_drives_the_stack(stack: Stack, org: dict[str, str]) -> None:
    """The other tests run the CLI's app in-process; this is the command a user types."""
    member = register(stack, org, "Ola Konsoll", "ola.konsoll@example.no", "+47 912 34 568")

    def installed(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KONTINGENT, *args],
            env={**os.environ, **stack.cli_env()},
            capture_output=True,
            text=True,
            timeout=60,
        )

    shown = installed("member", "get", member["member_id"], "--org", org["org_id"], "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["name"] == "Ola Konsoll"
    refused = installed("member", "get", member["member_id"], "--org", "no-such-org")
    assert refused.returncode != 0 and refused.stderr.strip()
    assert "Traceback" not in refused.stderr


def test_sign_up_sends_welcome_invoices_and_exports(stack: Stack, org: dict[str, str]) -> None:
    member = register(stack, org, "Kari Nordmann", "kari@example.no", "+47 912 34 567")
    assert member["phone"] == "+4791234567"
    assert member["status"] == "pending"

    [welcome] = wait_until(
        lambda: emails_to(stack, "kari@example.no", subject="Velkommen"), what="welcome email"
    )
    assert "Oslo Sjakklubb" in welcome["subject"]
    assert any("Kari Nordmann" in c["value"] for c in welcome["content"])

    stores = export_once_invoiced(stack, org, member["member_id"])["stores"]
    assert stores["membership"]["member"]["personal_data"]["email"]["value"] == "kari@example.no"
    [invoice] = stores["billing"]["invoices"]
    assert invoice["amount_ore"] == 50_000 and invoice["status"] == "open"
    # The welcome; the invoice's email may be queued by now as well.
    [message] = [m for m in stores["notify"]["messages"] if m["template"] == "welcome"]
    assert message["recipient"] == "kari@example.no" and message["template"] == "welcome"
    assert stores["erasure"]["data_key"]["shredded_at"] is None

    assert stack.metric("membership", "membership_members_registered_total") >= 1
    assert stack.metric("billing", "billing_invoices_issued_total") >= 1
    assert stack.metric("notify", "notify_messages_queued_total") >= 1
    for service in ("billing", "notify"):
        wait_until(
            lambda service=service: (
                'consumer_lag_messages{topic="membership.member-'
                'registered.v1"}' in stack.metrics_page(service)
            ),
            what="lag gauge",
        )
    assert (
        stack.metric(
            "membership",
            "membership_grpc_requests_total",
            {"method": "/membership.v1.MembershipService/RegisterMember", "code": "OK"},
        )
        >= 1
    )


def test_erase_removes_everywhere_keeps_payments_and_shreds_key(
    stack: Stack, org: dict[str, str]
) -> None:
    member = register(stack, org, "Ola Nordmann", "ola@example.no", "91234568")
    wait_until(lambda: emails_to(stack, "ola@example.no"), what="welcome email")
    member_id = member["member_id"]
    export_once_invoiced(stack, org, member_id)  # so that there are payment records to keep

    entries = erase(stack, org["org_id"], member_id)
    assert entries["membership"]["removed"][0]["category"] == "member-record"
    [kept] = entries["billing"]["kept"]
    assert kept["pseudonymised"] and "bokføringsloven" in kept["legal_basis"]
    assert kept["delete_after"].endswith("-12-31")
    assert {r["category"] for r in entries["notify"]["removed"]} == {
        "message-log",
        "provider-copies",
    }
    assert entries["keyring"]["action"] == "key-shredded"
    assert emails_to(stack, "ola@example.no") == []

    gone = cli(stack, "member", "get", member_id, "--org", org["org_id"])
    assert gone.returncode == 1 and "NOT_FOUND" in gone.stderr
    after = cli_json(stack, "member", "export", member_id, "--org", org["org_id"])["stores"]
    assert after["membership"]["member"] is None
    assert after["billing"]["invoices"] == []
    assert after["notify"]["messages"] == []
    assert after["erasure"]["data_key"]["shredded_at"]
    assert stack.metric("erasure", "erasure_keys_shredded_total") >= 1

    again = cli(stack, "member", "erase", member_id, "--org", org["org_id"])
    assert again.returncode == 1 and "already erased" in again.stderr


def test_member_erase_names_the_request_it_stopped_waiting_for(
    stack: Stack, org: dict[str, str]
) -> None:
    unknown = cli(stack, "member", "erase", "no-such-member", "--org", org["org_id"])
    assert unknown.returncode == 1 and "NOT_FOUND" in unknown.stderr
    member_id = register(stack, org, "Eva Vent", "eva.vent@example.no", "91234599")["member_id"]

    late = cli(stack, "member", "erase", member_id, "--timeout", "0", "--org", org["org_id"])

    assert late.returncode == 3, late.stderr
    [request_id] = re.findall(r"kontingent erasure status (\S+)`", late.stderr)
    assert "has not completed within 0 s" in late.stderr

    status = cli_json(stack, "erasure", "status", request_id, "--org", org["org_id"])
    assert status["subject_id"] == member_id and status["identity_method"]  # filed, verified


def test_bad_input_is_refused_and_changes_nothing(stack: Stack, org: dict[str, str]) -> None:
    bad = cli(
        stack,
        "member",
        "register",
        "--org",
        org["org_id"],
        "--name",
        "",
        "--email",
        "not-an-email",
        "--phone",
        "123",
    )
    assert bad.returncode == 1
    assert "INVALID_ARGUMENT" in bad.stderr
    for field in ("name", "email", "phone"):
        assert field in bad.stderr
    assert "not-an-email" not in bad.stderr

    first = register(stack, org, "Per Hansen", "per@example.no", "+4791234569")
    again = cli(
        stack,
        "member",
        "register",
        "--org",
        org["org_id"],
        "--name",
        "Per H",
        "--email",
        "PER@example.no",
        "--phone",
        "+4791234570",
    )
    assert again.returncode == 1
    assert "ALREADY_EXISTS" in again.stderr and first["member_id"] in again.stderr

    bad_org = cli(stack, "org", "create", "Feil", "--org-number", "123456789")
    assert bad_org.returncode == 1 and "org_number" in bad_org.stderr
