"""What is queued, for whom, and with what evidence, on a real database: every message is a
QUEUED row written with its event (or the org's send), gated before anything is rendered.
Marketing without consent is never queued; marketing records the consent it relied on; after
an unsubscribe (a withdrawn consent) the next marketing message is withheld but a receipt is
still queued; an event handled twice queues once; another org's member gets nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from billing.v1 import events_pb2 as billing_events
from google.protobuf.timestamp_pb2 import Timestamp
from membership.v1 import events_pb2 as membership_events
from membership.v1 import membership_pb2
from sqlalchemy import select

from services.common.db.engine import Database
from services.common.envelope import new_envelope
from services.common.errors import InvalidArgument
from services.notify.adapters.orm import messages
from services.notify.adapters.template_overrides import TemplateOverrides
from services.notify.domain.messages import QUEUED
from services.notify.domain.unsubscribe_links import UnsubscribeLinks
from services.notify.service_layer.event_messages import EventMessages
from services.notify.service_layer.messages_on_events import messages_on_events
from services.notify.service_layer.org_sending import OrgSending
from services.notify.service_layer.org_templates import OrgTemplates
from services.notify.service_layer.queueing import MessageQueue
from services.notify.service_layer.unsubscribing import Unsubscribing
from tests.integration.test_notify_dispatch_support import LocalKeys, keys, notify_db

__all__ = ["keys", "notify_db"]  # fixtures

ORG, OTHER_ORG = str(uuid.uuid4()), str(uuid.uuid4())
PAY = "https://betal.kontingent.no/{invoice_id}"


class FakeDirectory:
    """Membership's InternalDirectory as notify sees it, with consents that change."""

    def __init__(self) -> None:
        self.members: dict[str, membership_pb2.Contact] = {}
        self.history: dict[str, list[membership_pb2.ConsentChange]] = {}
        self.withdrawn: list[tuple[str, str, str, str]] = []

    def add(self, keys: LocalKeys, org_id: str = ORG, **fields: Any) -> str:
        member_id = keys.new_member()
        self.members[member_id] = membership_pb2.Contact(
            member_id=member_id,
            org_id=org_id,
            org_name="Bodø Roklubb",
            name=fields.pop("name", "Kari Nordmann"),
            email=fields.pop("email", f"{member_id[:8]}@example.no"),
            phone=fields.pop("phone", "+4790000001"),
            language=fields.pop("language", "nb"),
            **fields,
        )
        self.history[member_id] = []
        return member_id

    def grant(self, member_id: str, purpose: str, source: str = "form") -> None:
        at = Timestamp()
        at.FromDatetime(datetime(2026, 5, 17, 12, 0, tzinfo=UTC))
        self.history[member_id].append(
            membership_pb2.ConsentChange(
                purpose=purpose, granted=True, at=at, source=source, policy_version=2
            )
        )

    def _granted(self, member_id: str) -> list[str]:
        now: dict[str, bool] = {}
        for change in self.history[member_id]:
            now[change.purpose] = change.granted
        return [p for p, granted in now.items() if granted]

    async def contact(self, org_id: str, member_id: str) -> membership_pb2.Contact | None:
        contact = self.members.get(member_id)
        if contact is None or contact.org_id != org_id:
            return None
        result = membership_pb2.Contact()
        result.CopyFrom(contact)
        del result.consents[:]
        result.consents.extend(self._granted(member_id))
        return result

    async def contacts(self, org_id: str, member_ids: list[str]) -> list[membership_pb2.Contact]:
        found = [await self.contact(org_id, m) for m in member_ids]
        return [c for c in found if c is not None]

    async def consents(self, org_id: str, member_id: str) -> membership_pb2.Consents | None:
        if await self.contact(org_id, member_id) is None:
            return None
        return membership_pb2.Consents(
            granted=self._granted(member_id), history=self.history[member_id]
        )

    async def withdraw_consent(
        self, org_id: str, member_id: str, purpose: str, source: str
    ) -> bool:
        if await self.contact(org_id, member_id) is None:
            return False
        self.withdrawn.append((org_id, member_id, purpose, source))
        self.history[member_id].append(
            membership_pb2.ConsentChange(purpose=purpose, granted=False, source=source)
        )
        return True


class Contacts:
    def __init__(self, directory: FakeDirectory) -> None:
        self.directory = directory

    async def prefetch(self, refs: list[tuple[str, str]]) -> None:
        pass

    async def contact(self, org_id: str, member_id: str) -> membership_pb2.Contact | None:
        return await self.directory.contact(org_id, member_id)


@pytest.fixture
def directory() -> FakeDirectory:
    return FakeDirectory()


@pytest.fixture
def links() -> UnsubscribeLinks:
    return UnsubscribeLinks("unsubscribe-key-for-tests-0123456789", "https://varsel.example")


@pytest.fixture
def queue(
    directory: FakeDirectory, keys: LocalKeys, links: UnsubscribeLinks
) -> Iterator[MessageQueue]:
    yield MessageQueue(directory, keys, TemplateOverrides(cache_ttl_s=0), links)  # type: ignore[arg-type]


def consumer(template: str, queue: MessageQueue, directory: FakeDirectory) -> EventMessages:
    [spec] = [s for s in messages_on_events(PAY, "https://x/{org_id}") if s.template == template]
    return EventMessages(spec, queue, Contacts(directory))  # type: ignore[arg-type]


async def rows(db: Database, member_id: str) -> list[Any]:
    async with db.sessions() as session:
        return list(
            (
                await session.execute(
                    select(messages)
                    .where(messages.c.member_id == member_id)
                    .order_by(messages.c.template, messages.c.channel)
                )
            ).all()
        )


async def receipt_for(db: Database, consume: EventMessages, member_id: str) -> None:
    envelope = new_envelope(
        "billing.payment-succeeded",
        billing_events.PaymentSucceeded(
            invoice_id="inv_1",
            member_id=member_id,
            org_id=ORG,
            amount_ore=45_000,
            currency="NOK",
            invoice_number=1042,
        ),
        org_id=ORG,
        subject_id=member_id,
    )
    async with db.transaction() as session:
        await consume.handle(session, envelope)
        await consume.handle(session, envelope)  # redelivered within the batch: no second row


async def opened(keys: LocalKeys, member_id: str, row: Any) -> dict[str, str]:
    """The row's sealed fields, opened with the member's key."""
    fields = {"recipient": row.recipient_sealed, "subject": row.subject_sealed}
    fields["body"] = row.body_sealed
    if row.html_sealed is not None:
        fields["html"] = row.html_sealed
    return await keys.unseal(member_id, fields)


def sending(db: Database, directory: FakeDirectory, queue: MessageQueue) -> OrgSending:
    return OrgSending(db, directory, queue)  # type: ignore[arg-type]


async def send_newsletter(
    db: Database, directory: FakeDirectory, queue: MessageQueue, *members: str
) -> Any:
    return await sending(db, directory, queue).send(
        ORG,
        list(members),
        "newsletter",
        "consent",
        "email",
        "Nytt fra klubben",
        "Hei {{ name }}! Sesongen starter.",
    )


async def test_marketing_without_consent_is_never_queued(
    notify_db: Database, directory: FakeDirectory, queue: MessageQueue, keys: LocalKeys
) -> None:
    without = directory.add(keys)
    other_purpose = directory.add(keys)
    directory.grant(other_purpose, "photos")
    result = await send_newsletter(notify_db, directory, queue, without, other_purpose)
    assert result.message_class == "marketing"
    assert result.queued == 0 and result.not_queued == {"no-consent": 2}
    assert await rows(notify_db, without) == [] and await rows(notify_db, other_purpose) == []


async def test_a_marketing_message_records_the_consent_it_relied_on(
    notify_db: Database, directory: FakeDirectory, queue: MessageQueue, keys: LocalKeys
) -> None:
    member = directory.add(keys, name="Per <Hansen>")
    directory.grant(member, "newsletter", source="registration-form")
    result = await send_newsletter(notify_db, directory, queue, member)
    assert result.queued == 1

    [row] = await rows(notify_db, member)
    assert (row.status, row.message_class, row.purpose, row.legal_basis) == (
        QUEUED,
        "marketing",
        "newsletter",
        "consent",
    )
    evidence = json.loads(row.consent_evidence)
    assert evidence == {
        "purpose": "newsletter",
        "granted": True,
        "at": "2026-05-17T12:00:00+00:00",
        "source": "registration-form",
        "policy_version": 2,
        "channel": "email",
    }
    sealed = await opened(keys, member, row)
    assert sealed["recipient"] == directory.members[member].email
    assert "Hei Per <Hansen>! Sesongen starter." in sealed["body"]
    assert "Per &lt;Hansen&gt;" in sealed["html"]
    assert "https://varsel.example/unsubscribe/" in sealed["body"]  # the visible link
    assert b"Hansen" not in row.body_sealed  # sealed, not stored in clear


async def test_after_an_unsubscribe_receipts_still_come_and_marketing_does_not(
    notify_db: Database,
    directory: FakeDirectory,
    queue: MessageQueue,
    keys: LocalKeys,
    links: UnsubscribeLinks,
) -> None:
    member = directory.add(keys, email="kari@example.no")
    directory.grant(member, "newsletter")
    assert (await send_newsletter(notify_db, directory, queue, member)).queued == 1
    [newsletter] = await rows(notify_db, member)
    body = (await opened(keys, member, newsletter))["body"]
    token = body.split("https://varsel.example/unsubscribe/", 1)[1].split()[0]

    unsubscribing = Unsubscribing(links, directory)  # type: ignore[arg-type]
    wanted = unsubscribing.read(token)
    assert wanted is not None and wanted.message_id == newsletter.id
    await unsubscribing.unsubscribe(wanted)
    assert directory.withdrawn == [(ORG, member, "newsletter", "unsubscribe")]

    again = await send_newsletter(notify_db, directory, queue, member)
    assert again.queued == 0 and again.not_queued == {"no-consent": 1}
    await receipt_for(notify_db, consumer("payment-receipt", queue, directory), member)
    receipts = [r for r in await rows(notify_db, member) if r.template == "payment-receipt"]
    assert [(r.channel, r.status, r.message_class) for r in receipts] == [
        ("email", QUEUED, "transactional"),
        ("sms", QUEUED, "transactional"),
    ]
    [sms] = [r for r in receipts if r.channel == "sms"]
    assert sms.segments == 1 and sms.html_sealed is None
    text = (await opened(keys, member, sms))["body"]
    assert "kr 450,00" in text and "1042" in text


async def test_restricted_members_get_receipts_but_no_reminders(
    notify_db: Database, directory: FakeDirectory, queue: MessageQueue, keys: LocalKeys
) -> None:
    member = directory.add(keys, restricted=True, phone="")
    await receipt_for(notify_db, consumer("payment-receipt", queue, directory), member)
    reminder = new_envelope(
        "billing.reminder-due",
        billing_events.ReminderDue(
            invoice_id="inv_1", member_id=member, org_id=ORG, reminder_number=1,
            amount_ore=45_000, currency="NOK", due_date="2026-12-01", kid="0001234567",
        ),
        org_id=ORG,
        subject_id=member,
    )  # fmt: skip
    async with notify_db.transaction() as session:
        await consumer("payment-reminder", queue, directory).handle(session, reminder)
    # No phone: the receipt goes by email only; restricted: no reminder at all.
    assert [(r.template, r.channel) for r in await rows(notify_db, member)] == [
        ("payment-receipt", "email")
    ]


async def test_only_a_lapse_sends_the_lapsed_message_and_an_erased_member_gets_nothing(
    notify_db: Database, directory: FakeDirectory, queue: MessageQueue, keys: LocalKeys
) -> None:
    member = directory.add(keys)
    lapsed = consumer("membership-lapsed", queue, directory)
    for status in ("active", "lapsed"):
        envelope = new_envelope(
            "membership.member-status-changed",
            membership_events.MemberStatusChanged(
                member_id=member, org_id=ORG, old_status="x", new_status=status,
                period_end="2026-12-31",
            ),
            org_id=ORG,
            subject_id=member,
        )  # fmt: skip
        async with notify_db.transaction() as session:
            await lapsed.handle(session, envelope)
    [row] = await rows(notify_db, member)
    assert row.template == "membership-lapsed"
    text = (await opened(keys, member, row))["body"]
    assert "31.12.2026" in text

    del directory.members[member]  # erased since the event was produced
    envelope = new_envelope(
        "membership.member-registered",
        membership_events.MemberRegistered(member_id=member, org_id=ORG),
        org_id=ORG,
        subject_id=member,
    )
    async with notify_db.transaction() as session:
        await consumer("welcome", queue, directory).handle(session, envelope)
    assert len(await rows(notify_db, member)) == 1


async def test_an_org_reaches_only_its_own_members_and_states_a_valid_basis(
    notify_db: Database, directory: FakeDirectory, queue: MessageQueue, keys: LocalKeys
) -> None:
    own = directory.add(keys)
    foreign = directory.add(keys, org_id=OTHER_ORG)
    send = sending(notify_db, directory, queue)
    result = await send.send(
        ORG, [own, foreign], "membership", "legitimate_interest", "sms", "", "Dugnad lørdag!"
    )
    assert result.message_class == "service"
    assert result.queued == 1 and result.not_queued == {"member-gone": 1}
    assert await rows(notify_db, foreign) == []
    [row] = await rows(notify_db, own)
    assert (row.channel, row.legal_basis, row.segments) == ("sms", "legitimate_interest", 1)

    with pytest.raises(InvalidArgument) as refused:
        await send.send(ORG, [own], "News Letter", "because", "fax", "", "{{ secret }}")
    assert set(refused.value.field_errors) == {"purpose", "legal_basis", "channel"}
    with pytest.raises(InvalidArgument, match="unknown variables secret"):
        await send.send(ORG, [own], "membership", "contract", "email", "Hei", "{{ secret }}")


async def test_a_repeated_send_queues_nothing_new(
    notify_db: Database, directory: FakeDirectory, queue: MessageQueue, keys: LocalKeys
) -> None:
    member = directory.add(keys)
    send = sending(notify_db, directory, queue)
    request_id = str(uuid.uuid4())
    args = (ORG, [member], "membership", "contract", "email", "Årsmøte", "Velkommen!", request_id)
    assert (await send.send(*args)).queued == 1
    again = await send.send(*args)
    assert again.queued == 0 and again.not_queued == {"duplicate": 1}


async def test_an_org_override_is_used_when_queueing_and_previews_count_segments(
    notify_db: Database, directory: FakeDirectory, queue: MessageQueue, keys: LocalKeys
) -> None:
    templates = OrgTemplates(notify_db, queue.overrides)
    await templates.set_override(
        ORG, "payment-receipt", "nb", "sms", "{{ org_name }} takker for {{ amount }} 😀"
    )
    preview = await templates.preview(ORG, "payment-receipt", "nb", {})
    assert preview.sms == "Bodø Roklubb takker for kr 450,00 😀"
    assert preview.sms_length is not None and preview.sms_length.encoding == "ucs-2"
    # Another org sees ours.
    assert "😀" not in ((await templates.preview(OTHER_ORG, "payment-receipt", "nb", {})).sms or "")

    member = directory.add(keys)
    await receipt_for(notify_db, consumer("payment-receipt", queue, directory), member)
    [sms] = [r for r in await rows(notify_db, member) if r.channel == "sms"]
    assert (await opened(keys, member, sms))["body"].endswith("😀")

    listed = {t.template: t for t in await templates.list(ORG)}
    assert [(r.language, r.part) for r in listed["payment-receipt"].overridden] == [("nb", "sms")]
    await templates.set_override(ORG, "payment-receipt", "nb", "sms", "")  # back to ours
    assert (await templates.list(ORG))[0].overridden == [] or not [
        t for t in await templates.list(ORG) if t.overridden
    ]
