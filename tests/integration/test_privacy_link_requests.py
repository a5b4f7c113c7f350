"""Asking for a privacy page link on a real database (SQLite and PostgreSQL): a member's
address writes one PII-free event through the outbox, at most once per interval; a stranger's
writes nothing; a malformed address is refused and writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from membership.v1 import events_pb2
from sqlalchemy import insert, select, update

from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.db.tables import outbox
from services.common.envelope import decode, unpack
from services.common.errors import InvalidArgument
from services.common.grpc.auth import current_tenant
from services.common.metrics import ServiceMetrics
from services.common.outbox import OutboxRelay
from services.common.sealing import blind_index
from services.common.topics import PRIVACY_LINK_REQUESTED
from services.membership.adapters.orm import members, orgs
from services.membership.adapters.repository import member_row
from services.membership.domain.privacy_links import PrivacyLinks
from services.membership.service_layer.handlers import MembershipHandlers
from services.membership.service_layer.privacy_links import (
    NO_MEMBER,
    RATE_LIMITED,
    SENT,
    PrivacySelfService,
)
from tests.integration.conftest import SERVICES_DIR

INDEX_KEY = b"i" * 32
ORG, MEMBER, EMAIL = "org-priv", "member-priv", "kari.lenke@example.no"


@pytest.fixture
async def service(database_url: str, metrics: ServiceMetrics) -> AsyncIterator[PrivacySelfService]:
    db = Database(database_url, tenant=current_tenant)
    await upgrade_to_head(db, SERVICES_DIR / "membership" / "migrations")
    now = datetime.now(UTC)
    async with db.transaction() as session:
        await session.execute(
            insert(orgs).values(
                id=ORG, name="Org", org_number="979000138", language="nb", created_at=now
            )
        )
        sealed = {f: b"\x01sealed" for f in ("name", "email", "phone")}
        index = blind_index(INDEX_KEY, ORG, EMAIL)
        await session.execute(
            insert(members), [member_row(MEMBER, ORG, sealed, index, "nb", "active", now)]
        )
    # The sealer and key reservations are not on this path: asking needs no personal data.
    handlers = MembershipHandlers(
        db,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        INDEX_KEY,
        OutboxRelay(db, None, metrics),  # type: ignore[arg-type]
    )
    links = PrivacyLinks("k" * 43, "http://127.0.0.1", 3600)
    yield PrivacySelfService(handlers, None, links, None, resend_interval_s=600)  # type: ignore[arg-type]
    await db.close()


async def events(service: PrivacySelfService) -> list[bytes]:
    async with service.handlers.database.sessions() as session:
        rows = await session.execute(
            select(outbox.c.value).where(outbox.c.topic == PRIVACY_LINK_REQUESTED.name)
        )
        return [bytes(r.value) for r in rows]


async def test_a_member_is_sent_one_link_per_interval_and_a_stranger_none(
    service: PrivacySelfService,
) -> None:
    assert await service.request_link(ORG, " Kari.Lenke@EXAMPLE.no") == SENT
    assert await service.request_link(ORG, EMAIL) == RATE_LIMITED
    assert await service.request_link(ORG, "someone.else@example.no") == NO_MEMBER
    assert await service.request_link("another-org", EMAIL) == NO_MEMBER
    [value] = await events(service)
    assert EMAIL.encode() not in value.lower() and b"kari" not in value.lower()
    envelope = decode(value)
    payload = unpack(envelope, events_pb2.PrivacyLinkRequested)
    assert (payload.org_id, payload.member_id, envelope.subject_id) == (ORG, MEMBER, MEMBER)

    # Once the interval has passed, another.
    async with service.handlers.database.transaction() as session:
        await session.execute(
            update(members).values(privacy_link_sent_at=datetime.now(UTC) - timedelta(seconds=601))
        )
    assert await service.request_link(ORG, EMAIL) == SENT
    assert len(await events(service)) == 2


async def test_a_malformed_address_is_refused_and_writes_nothing(
    service: PrivacySelfService,
) -> None:
    for bad in ("", "kari@", "not an address"):
        with pytest.raises(InvalidArgument) as refused:
            await service.request_link(ORG, bad)
        assert set(refused.value.field_errors) == {"email"}
    assert await events(service) == []
