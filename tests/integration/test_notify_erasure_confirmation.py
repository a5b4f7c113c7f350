"""Notify's erasure-confirmed email as the erasure pipeline asks for it: queued once per
request with the address membership gives now, pending until the dispatcher has sent it,
then sent; a member with no address gets an honest not-sent; a malformed ask changes nothing."""

from __future__ import annotations

import uuid

import pytest
from privacy.v1 import confirmation_pb2
from sqlalchemy import update

from services.common.db.engine import Database
from services.common.errors import InvalidArgument
from services.notify.adapters.orm import messages
from services.notify.domain.messages import SENT
from services.notify.entrypoints.grpc_erasure_confirmation import ErasureConfirmationsServicer
from services.notify.service_layer.erasure_confirmation import ErasureConfirmations
from services.notify.service_layer.queueing import MessageQueue
from tests.integration.test_notify_dispatch_support import LocalKeys, keys, notify_db
from tests.integration.test_notify_queueing import (
    ORG,
    FakeDirectory,
    directory,
    links,
    queue,
    rows,
)

__all__ = ["directory", "keys", "links", "notify_db", "queue"]  # fixtures


def confirmations(
    db: Database, directory: FakeDirectory, queue: MessageQueue, woken: list[int]
) -> ErasureConfirmations:
    return ErasureConfirmations(
        db,
        directory,
        queue,
        lambda: woken.append(1),
        wait_s=0.05,
        poll_s=0.01,  # type: ignore[arg-type]
    )


async def test_queued_once_then_pending_until_sent(
    notify_db: Database, keys: LocalKeys, directory: FakeDirectory, queue: MessageQueue
) -> None:
    member = directory.add(keys, email="kari@example.no")
    request_id = str(uuid.uuid4())
    woken: list[int] = []
    service = confirmations(notify_db, directory, queue, woken)

    first = await service.confirm(ORG, member, request_id)
    del directory.members[member]  # membership forgets the member: the queued row stands
    again = await service.confirm(ORG, member, request_id)

    assert (first.state, again.state) == ("pending", "pending")
    [row] = await rows(notify_db, member)
    assert row.template == "erasure-confirmed" and row.id == first.message_id
    opened = await keys.unseal(member, {"recipient": row.recipient_sealed})
    assert opened["recipient"] == "kari@example.no"
    assert woken == [1]  # the dispatcher is woken when it is queued, not again

    async with notify_db.transaction() as session:
        await session.execute(update(messages).where(messages.c.id == row.id).values(status=SENT))
    sent = await service.confirm(ORG, member, request_id)
    assert sent.state == "sent"
    assert len(await rows(notify_db, member)) == 1


async def test_a_member_without_an_address_is_not_sent_one(
    notify_db: Database, keys: LocalKeys, directory: FakeDirectory, queue: MessageQueue
) -> None:
    member = directory.add(keys, email="")
    service = confirmations(notify_db, directory, queue, [])

    found = await service.confirm(ORG, member, str(uuid.uuid4()))

    assert (found.state, found.reason) == ("not-sent", "no-address")
    assert await rows(notify_db, member) == []


async def test_a_malformed_ask_is_refused_naming_the_fields_and_queues_nothing(
    notify_db: Database, keys: LocalKeys, directory: FakeDirectory, queue: MessageQueue
) -> None:
    member = directory.add(keys)
    servicer = ErasureConfirmationsServicer(confirmations(notify_db, directory, queue, []))

    with pytest.raises(InvalidArgument) as refused:
        await servicer.ConfirmErasure(
            confirmation_pb2.ConfirmErasureRequest(subject_id=member, request_id="nope"),
            None,  # type: ignore[arg-type]
        )

    assert set(refused.value.field_errors) == {"org_id", "request_id"}
    assert await rows(notify_db, member) == []
