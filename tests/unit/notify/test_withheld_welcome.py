"""The welcome handler asks the gate before it renders, seals or sends: a withheld welcome
leaves nothing at the provider, in the message log or on the outbox, is counted by reason,
and its log line names the decision but not the member."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from membership.v1 import events_pb2 as membership_events
from membership.v1 import membership_pb2
from prometheus_client import REGISTRY

from services.common.envelope import new_envelope
from services.common.logging import configure
from services.notify.domain.messages import RenderedEmail
from services.notify.service_layer.handlers import NotifyHandlers

ORG, MEMBER = "0b7a4c2e-0000-4000-8000-000000000001", "0b7a4c2e-0000-4000-8000-000000000002"
EMAIL, NAME = "kari.nordmann@example.no", "Kari Nordmann"


class FakeChannel:
    def unary_unary(self, *args: Any, **kwargs: Any) -> object:
        return object()


class FakeMembership:
    channel = FakeChannel()

    def __init__(self, contact: membership_pb2.Contact) -> None:
        self.contact = contact

    async def call(self, method: object, request: object) -> membership_pb2.Contact:
        return self.contact


class FakeSealer:
    def __init__(self) -> None:
        self.sealed: list[str] = []

    async def seal(self, member_id: str, values: dict[str, str]) -> dict[str, bytes]:
        self.sealed.append(member_id)
        return {k: b"sealed" for k in values}


class FakeEmail:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, RenderedEmail]] = []

    async def send(self, message_id: str, to: str, email: RenderedEmail) -> str:
        self.sent.append((message_id, to, email))
        return f"ref-{message_id}"

    async def forget(self, message_id: str) -> bool:
        return False


class FakeSession:
    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []

    async def execute(self, statement: object, values: dict[str, Any]) -> None:
        self.writes.append(values)


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


async def handle(**flags: Any) -> tuple[FakeEmail, FakeSealer, FakeSession]:
    contact = membership_pb2.Contact(
        member_id=MEMBER, org_id=ORG, org_name="Oslo Sjakklubb", name=NAME, email=EMAIL,
        language="nb", **flags,
    )  # fmt: skip
    email, sealer, session = FakeEmail(), FakeSealer(), FakeSession()
    handlers = NotifyHandlers(FakeMembership(contact), sealer, email)  # type: ignore[arg-type]
    envelope = new_envelope(
        "membership.member-registered",
        membership_events.MemberRegistered(member_id=MEMBER, org_id=ORG, language="nb"),
        org_id=ORG,
        subject_id=MEMBER,
    )
    await handlers.on_member_registered(session, envelope)  # type: ignore[arg-type]
    return email, sealer, session


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
    email, sealer, session = await handle(**flags)
    assert email.sent == [] and sealer.sealed == [] and session.writes == []
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
async def test_an_unrestricted_member_gets_the_welcome_logged_by_purpose(
    flags: dict[str, Any],
) -> None:
    email, sealer, session = await handle(**flags)
    [(_, to, rendered)] = email.sent
    assert to == EMAIL and NAME in rendered.text
    assert sealer.sealed == [MEMBER]
    [message, _event] = session.writes
    assert message["purpose"] == "membership" and message["status"] == "sent"
