"""The welcome consumer asks the gate before it renders, seals or queues: a withheld welcome
leaves nothing in the message log or on the outbox, is counted by reason, and its log line
names the decision but not the member. A welcome that passes is one QUEUED row, sealed, for
the dispatcher; nothing is handed to a provider here."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
from membership.v1 import events_pb2 as membership_events
from membership.v1 import membership_pb2
from prometheus_client import REGISTRY

from services.common.envelope import new_envelope
from services.common.logging import configure
from services.notify.adapters.template_overrides import TemplateOverrides
from services.notify.domain.messages import QUEUED
from services.notify.domain.unsubscribe_links import UnsubscribeLinks
from services.notify.service_layer.event_messages import EventMessages
from services.notify.service_layer.messages_on_events import messages_on_events
from services.notify.service_layer.queueing import MessageQueue

ORG, MEMBER = "0b7a4c2e-0000-4000-8000-000000000001", "0b7a4c2e-0000-4000-8000-000000000002"
EMAIL, NAME = "kari.nordmann@example.no", "Kari Nordmann"


class FakeContacts:
    def __init__(self, contact: membership_pb2.Contact) -> None:
        self._contact = contact

    async def prefetch(self, refs: list[tuple[str, str]]) -> None:
        pass

    async def contact(self, org_id: str, member_id: str) -> membership_pb2.Contact:
        return self._contact


class FakeSealer:
    def __init__(self) -> None:
        self.sealed: list[tuple[str, dict[str, str]]] = []

    async def seal(self, member_id: str, values: dict[str, str]) -> dict[str, bytes]:
        self.sealed.append((member_id, values))
        return {k: b"sealed" for k in values}


class EmptyResult(SimpleNamespace):
    def __iter__(self) -> Iterator[Any]:
        return iter(())


class Session:
    """Answers the override look-up with nothing and records every write."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []

    def get_bind(self) -> Any:
        return SimpleNamespace(dialect=SimpleNamespace(name="sqlite"))

    async def execute(self, statement: object, values: dict[str, Any] | None = None) -> Any:
        if values is not None:
            self.writes.append(values)
        return EmptyResult(rowcount=1)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The test calls configure() in its body, where capsys captures stderr."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def skipped(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "notify_messages_skipped_total", {"template": "welcome", "reason": reason}
    )
    return value or 0.0


async def handle(**flags: Any) -> tuple[FakeSealer, Session]:
    contact = membership_pb2.Contact(
        member_id=MEMBER, org_id=ORG, org_name="Oslo Sjakklubb", name=NAME, email=EMAIL,
        language="nb", **flags,
    )  # fmt: skip
    sealer, session = FakeSealer(), Session()
    queue = MessageQueue(
        None,  # type: ignore[arg-type]  # a welcome is no marketing: no consent look-up
        sealer,  # type: ignore[arg-type]
        TemplateOverrides(),
        UnsubscribeLinks("k" * 32, "https://varsel.example"),
    )
    [welcome] = [
        s for s in messages_on_events("{invoice_id}", "{org_id}") if s.template == "welcome"
    ]
    consumer = EventMessages(welcome, queue, FakeContacts(contact))  # type: ignore[arg-type]
    envelope = new_envelope(
        "membership.member-registered",
        membership_events.MemberRegistered(member_id=MEMBER, org_id=ORG, language="nb"),
        org_id=ORG,
        subject_id=MEMBER,
    )
    await consumer.handle(session, envelope)  # type: ignore[arg-type]
    return sealer, session


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        ({"restricted": True}, "restricted"),
        ({"restricted": True, "consents": ["membership"]}, "restricted"),
        ({"objections": ["membership"]}, "objection"),
        ({"restricted": True, "objections": ["membership"]}, "restricted"),
    ],
)
async def test_a_withheld_welcome_leaves_no_trace_but_the_count(
    flags: dict[str, Any],
    reason: str,
    restore_logging: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure("notify", "info")
    before = skipped(reason)
    sealer, session = await handle(**flags)
    assert sealer.sealed == [] and session.writes == []
    assert skipped(reason) == before + 1

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    [decision] = [line for line in lines if line["event"] == "message_withheld"]
    assert decision["reason"] == reason
    assert decision["template"] == "welcome"
    assert decision["message_class"] == "service" and decision["purpose"] == "membership"
    text = json.dumps(lines)
    for personal in (MEMBER, EMAIL, NAME, "Kari"):
        assert personal not in text


@pytest.mark.parametrize(
    "flags",
    [{}, {"objections": ["marketing", "newsletter"]}, {"consents": ["newsletter"]}],
)
async def test_an_unrestricted_member_gets_the_welcome_queued_by_purpose(
    flags: dict[str, Any],
) -> None:
    sealer, session = await handle(**flags)
    [(member, sealed)] = sealer.sealed
    assert member == MEMBER and sealed["recipient"] == EMAIL and NAME in sealed["body"]
    assert "<p>" in sealed["html"] and sealed["subject"].startswith("Velkommen")
    [message] = session.writes  # the row only: nothing on the outbox, nothing sent
    assert message["purpose"] == "membership" and message["status"] == QUEUED
    assert message["message_class"] == "service" and message["legal_basis"]
    assert message["consent_evidence"] is None and message["channel"] == "email"
