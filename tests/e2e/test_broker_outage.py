"""With the broker unreachable, sign-ups still succeed; the outbox delivers when it is back.

The local broker keeps its log in memory, so it is paused (SIGSTOP), not restarted."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from kontingent_cli.devstack import Stack
from tests.e2e.helpers import (
    create_org,
    emails_to,
    export_once_invoiced,
    private_stack,
    register,
    wait_until,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with private_stack(tmp_path_factory.mktemp("outage")) as stack:
        yield stack


def test_registration_survives_broker_outage(own_stack: Stack) -> None:
    stack = own_stack
    org = create_org(stack, "Tromsø Padleklubb", "982463718")
    stack.signal("broker", signal.SIGSTOP)
    try:
        member = register(stack, org, "Aud Eide", "aud@example.no", "+4790044556")
        assert member["member_id"]
        wait_until(
            lambda: stack.metric("membership", "membership_outbox_backlog_events") >= 1,
            timeout_s=10,
            what="the event to wait in the outbox",
        )
        assert emails_to(stack, "aud@example.no") == []
    finally:
        stack.signal("broker", signal.SIGCONT)

    wait_until(
        lambda: emails_to(stack, "aud@example.no"),
        timeout_s=90,
        what="welcome after the broker returned",
    )
    wait_until(
        lambda: stack.metric("membership", "membership_outbox_backlog_events") == 0 or None,
        timeout_s=30,
        what="the outbox to drain",
    )
    export = export_once_invoiced(stack, org, member["member_id"])
    assert len(export["stores"]["billing"]["invoices"]) == 1
