"""Notify tells every org's contact when the sub-processor list changes: one email per org
and version through the real SendGrid adapter (official SDK) to the loopback SendGrid, in the
org's language, naming each sub-processor's purpose, location and transfer basis. Redelivered
events, a restarted notify and a timed-out send add no second email; an org without a contact
email is counted, not emailed; an announcement a newer list overtook sends nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from membership.v1 import membership_pb2
from privacy.v1 import events_pb2
from privacy.v1 import subprocessors_pb2 as sp
from sqlalchemy import select

from services.common.db.engine import Database
from services.common.envelope import new_envelope
from services.notify.adapters.orm import org_announcements, org_notices
from services.notify.service_layer.org_notices import OrgNotices
from tests.integration.test_notify_dispatch_support import notify_db, sendgrid, sendgrid_email
from tests.loopback.sendgrid import SendGridLoopback

__all__ = ["notify_db", "sendgrid"]  # fixtures

ORGS = [
    membership_pb2.OrgContact(
        org_id=str(uuid.UUID(int=1)), name="Bodø Roklubb", contact_email="styret@roklubb.no"
    ),
    membership_pb2.OrgContact(
        org_id=str(uuid.UUID(int=2)),
        name="Oslo Chess Club",
        contact_email="board@chess.example",
        language="en",
    ),
    membership_pb2.OrgContact(org_id=str(uuid.UUID(int=3)), name="Uten Adresse IL"),
]


def registry(version: int) -> sp.SubprocessorList:
    return sp.SubprocessorList(
        version=version,
        last_changed="2026-12-01",
        subprocessors=[
            sp.Subprocessor(
                name="Stripe",
                purpose="collecting membership fees",
                location="United States",
                transfer_basis="EU-US Data Privacy Framework",
                dpa_url="https://stripe.com/legal/dpa",
            ),
            sp.Subprocessor(
                name="Mailgun",
                purpose="sending email",
                location="Germany",
                transfer_basis="none needed (EEA)",
                dpa_url="https://www.mailgun.com/legal/dpa/",
            ),
        ],
    )


class Membership:
    """Membership's ListOrgContacts, as notify's directory pages through it."""

    async def org_contacts(self) -> AsyncIterator[membership_pb2.OrgContact]:
        for org in ORGS:
            yield org


class Erasure:
    def __init__(self, version: int) -> None:
        self.version = version

    async def current(self) -> sp.SubprocessorList:
        return registry(self.version)


def notices(db: Database, server: SendGridLoopback, version: int = 2) -> OrgNotices:
    return OrgNotices(db, Membership(), Erasure(version), sendgrid_email(server), retry_s=0.01)


async def announce(db: Database, service: OrgNotices, version: int = 2) -> None:
    """The consumer's handler in its own transaction, as the event consumer runs it."""
    envelope = new_envelope(
        "privacy.subprocessors-changed",
        events_pb2.SubprocessorsChanged(
            version=version, previous_version=version - 1, names=["Stripe", "Mailgun"]
        ),
        org_id="",
    )
    async with db.transaction() as session:
        await service.on_subprocessors_changed(session, envelope)


async def statuses(db: Database) -> tuple[list[str], dict[str, str]]:
    async with db.sessions() as session:
        announced = (await session.scalars(select(org_announcements.c.status))).all()
        told = (await session.execute(select(org_notices.c.org_id, org_notices.c.status))).all()
    return list(announced), {org_id[-1]: status for org_id, status in told}


async def test_each_org_is_told_once_in_its_language(
    notify_db: Database, sendgrid: SendGridLoopback
) -> None:
    service = notices(notify_db, sendgrid)
    await announce(notify_db, service)
    await announce(notify_db, service)  # the same change again (a second event)
    await service.run_pending()

    by_address = {mail.to[0]: mail for mail in sendgrid.sent}
    assert sorted(by_address) == ["board@chess.example", "styret@roklubb.no"]
    nb, en = by_address["styret@roklubb.no"], by_address["board@chess.example"]
    assert nb.subject == "Kontingent: endringer i underleverandørlisten (versjon 2)"
    [nb_text] = [c["value"] for c in nb.content if c["type"] == "text/plain"]
    assert "Til Bodø Roklubb" in nb_text and "endret 01.12.2026" in nb_text
    assert "- Mailgun: sending email\n  Hvor: Germany" in nb_text
    [en_text] = [c["value"] for c in en.content if c["type"] == "text/plain"]
    assert "changed on 1 December 2026 (version 2, previously version 1)" in en_text
    assert "Transfer basis: EU-US Data Privacy Framework" in en_text
    assert await statuses(notify_db) == (["done"], {"1": "sent", "2": "sent", "3": "no-address"})

    restarted = notices(notify_db, sendgrid)
    await announce(notify_db, restarted)  # redelivered after a restart
    await restarted.run_pending()
    assert len(sendgrid.sent) == 2


async def test_a_send_that_timed_out_is_looked_up_not_sent_again(
    notify_db: Database, sendgrid: SendGridLoopback
) -> None:
    sendgrid.faults.slow, sendgrid.faults.delay_s = 1, 1.0  # accepted, answered too late
    service = notices(notify_db, sendgrid)
    await announce(notify_db, service)

    await service.run_pending()
    announced, told = await statuses(notify_db)
    assert announced == ["pending"] and told["1"] == "sending"  # the first org timed out

    await service.run_pending()
    assert sorted(m.to[0] for m in sendgrid.sent) == ["board@chess.example", "styret@roklubb.no"]
    assert await statuses(notify_db) == (["done"], {"1": "sent", "2": "sent", "3": "no-address"})


async def test_an_announcement_a_newer_list_overtook_sends_nothing(
    notify_db: Database, sendgrid: SendGridLoopback
) -> None:
    service = notices(notify_db, sendgrid, version=3)
    await announce(notify_db, service, version=2)

    await service.run_pending()

    assert sendgrid.sent == []
    assert await statuses(notify_db) == (["superseded"], {})
