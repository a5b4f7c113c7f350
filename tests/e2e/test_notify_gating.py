"""Notify respects restriction of processing and objection per purpose: a restricted member,
or one who objects to the membership messages, gets no welcome; everyone else does, and
billing still invoices the restricted member (the contract requires it).

The welcome goes out right after sign-up, so a flag set afterwards is usually too late. To
set the flags first for real, notify is stopped while the members sign up and are
restricted or objecting; started again, it finds the events waiting on the topic."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from kontingent_cli.devstack import Stack
from tests.e2e.helpers import (
    cli_json,
    create_org,
    emails_to,
    export_once_invoiced,
    private_stack,
    register,
    wait_until,
)

pytestmark = pytest.mark.e2e

SKIPPED = "notify_messages_skipped_total"
QUEUED = "notify_messages_queued_total"


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Its own stack (SQLite), since notify is stopped and started in it."""
    with private_stack(tmp_path_factory.mktemp("gating")) as stack:
        yield stack


def test_restricted_and_objecting_members_get_no_welcome(own_stack: Stack) -> None:
    stack = own_stack
    org = create_org(stack, "Bodø Roklubb", "937120001")
    oid = org["org_id"]

    stack.stop_processes(["notify"])
    plain = register(stack, org, "Siri Dahl", "siri@example.no", "+4790055001")
    restricted = register(stack, org, "Tor Lund", "tor@example.no", "+4790055002")
    objecting = register(stack, org, "Una Moe", "una@example.no", "+4790055003")
    no_ads = register(stack, org, "Vidar Ness", "vidar@example.no", "+4790055004")
    assert cli_json(stack, "member", "restrict", restricted["member_id"], "--org", oid)[
        "restricted"
    ]
    for member, purpose in ((objecting, "membership"), (no_ads, "marketing")):
        cli_json(stack, "member", "object", member["member_id"], "--purpose", purpose, "--org", oid)
    stack.start_service("notify")
    stack.wait_serving("notify", time.monotonic() + 30)

    # Everyone's event is handled: two welcomes recorded, two withheld with their reasons.
    wait_until(
        lambda: (
            stack.metric("notify", QUEUED, {"template": "welcome"}) >= 2
            and stack.metric("notify", SKIPPED, {"template": "welcome"}) >= 2
        ),
        timeout_s=30,
        what="notify to handle the four sign-ups",
    )
    # Queued with the event; the dispatcher sends them.
    welcome = "Velkommen"
    wait_until(lambda: emails_to(stack, "siri@example.no", welcome), what="siri's welcome")
    # Objecting to marketing is not objecting to membership.
    wait_until(lambda: emails_to(stack, "vidar@example.no", welcome), what="vidar's welcome")
    assert emails_to(stack, "tor@example.no", welcome) == []
    assert emails_to(stack, "una@example.no", welcome) == []
    assert stack.metric("notify", SKIPPED, {"template": "welcome", "reason": "restricted"}) == 1
    assert stack.metric("notify", SKIPPED, {"template": "welcome", "reason": "objection"}) == 1
    assert stack.metric("notify", QUEUED, {"template": "welcome"}) == 2

    # Notify kept no welcome for the restricted member; billing invoiced them all the same,
    # and the invoice (transactional: the contract) reaches them.
    export = export_once_invoiced(stack, org, restricted["member_id"])
    welcomes = [
        m for m in export["stores"]["notify"].get("messages", []) if m["template"] == "welcome"
    ]
    assert welcomes == []
    assert len(export["stores"]["billing"]["invoices"]) == 1
    wait_until(lambda: emails_to(stack, "tor@example.no", "Faktura"), what="tor's invoice")
    messages = export_once_invoiced(stack, org, plain["member_id"])["stores"]["notify"]["messages"]
    [welcomed] = [m for m in messages if m["template"] == "welcome"]
    assert welcomed["purpose"] == "membership"
