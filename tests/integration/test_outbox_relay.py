"""Transactional outbox: what a committed transaction announced reaches the topic; what was
rolled back never does; with the producer down, rows wait and go out once it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import ConsumerRecord
from events.v1.envelope_pb2 import Envelope
from membership.v1.events_pb2 import MemberRegistered
from sqlalchemy import select

from services.common.db.engine import Database
from services.common.db.tables import outbox
from services.common.envelope import decode, new_envelope, unpack
from services.common.kafka import Publisher
from services.common.metrics import ServiceMetrics
from services.common.outbox import OutboxRelay, add_event
from services.common.topics import TopicSpec

TopicReader = Callable[[str], Awaitable[list[ConsumerRecord]]]  # the read_topic fixture


def registered(member_id: str, org_id: str = "org-1") -> Envelope:
    return new_envelope(
        "membership.member-registered",
        MemberRegistered(member_id=member_id, org_id=org_id, language="nb"),
        org_id=org_id,
        subject_id=member_id,
    )


async def commit_events(db: Database, topic: TopicSpec, *envelopes: Envelope) -> None:
    async with db.transaction() as session:
        for envelope in envelopes:
            await add_event(session, topic, envelope)


async def pending_event_ids(db: Database) -> list[str]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(outbox.c.event_id).where(outbox.c.published_at.is_(None)).order_by(outbox.c.seq)
        )
        return [row.event_id for row in rows]


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 15.0) -> None:
    """Polls until check() holds; fails only if it never does (not a timing assertion)."""
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.05)


async def test_committed_events_are_published_and_marked(
    database: Database,
    publisher: Publisher,
    metrics: ServiceMetrics,
    fresh_topic: TopicSpec,
    read_topic: TopicReader,
) -> None:
    first, second = registered("member-1"), registered("member-2")
    org_event = new_envelope("membership.org-created", MemberRegistered(), org_id="org-7")
    await commit_events(database, fresh_topic, first, second, org_event)

    relay = OutboxRelay(database, publisher, metrics)
    assert await relay.measure_backlog() == 3
    assert metrics.registry.get_sample_value("test_outbox_backlog_events") == 3
    assert await relay.publish_batch() == 3

    records = await read_topic(fresh_topic.name)
    by_id = {decode(r.value).event_id: r for r in records}
    assert set(by_id) == {first.event_id, second.event_id, org_event.event_id}
    assert decode(by_id[first.event_id].value) == first
    assert unpack(decode(by_id[second.event_id].value), MemberRegistered).member_id == "member-2"
    # keyed by subject so a member's events stay ordered; by org when there is no subject
    assert by_id[first.event_id].key == b"member-1"
    assert by_id[org_event.event_id].key == b"org-7"

    assert await pending_event_ids(database) == []
    assert await relay.measure_backlog() == 0
    assert metrics.registry.get_sample_value("test_outbox_backlog_events") == 0
    assert metrics.registry.get_sample_value("test_outbox_published_events_total") == 3


async def test_published_rows_are_not_sent_again(
    database: Database,
    publisher: Publisher,
    metrics: ServiceMetrics,
    fresh_topic: TopicSpec,
    read_topic: TopicReader,
) -> None:
    await commit_events(database, fresh_topic, registered("member-1"), registered("member-2"))
    relay = OutboxRelay(database, publisher, metrics)
    assert await relay.publish_batch() == 2
    assert await relay.publish_batch() == 0
    assert len(await read_topic(fresh_topic.name)) == 2


async def test_one_members_events_arrive_in_order(
    database: Database,
    publisher: Publisher,
    metrics: ServiceMetrics,
    fresh_topic: TopicSpec,
    read_topic: TopicReader,
) -> None:
    sent = [registered("member-1") for _ in range(6)]
    for envelope in sent:
        await commit_events(database, fresh_topic, envelope)
    await commit_events(database, fresh_topic, registered("member-2"))

    await OutboxRelay(database, publisher, metrics, batch_size=4).publish_batch()
    await OutboxRelay(database, publisher, metrics, batch_size=4).publish_batch()

    records = [r for r in await read_topic(fresh_topic.name) if r.key == b"member-1"]
    assert len({r.partition for r in records}) == 1
    assert [decode(r.value).event_id for r in records] == [e.event_id for e in sent]


async def test_events_of_a_rolled_back_transaction_are_never_published(
    database: Database,
    publisher: Publisher,
    metrics: ServiceMetrics,
    fresh_topic: TopicSpec,
    read_topic: TopicReader,
) -> None:
    rolled_back, committed = registered("member-1"), registered("member-2")
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            await add_event(session, fresh_topic, rolled_back)
            raise RuntimeError("the state change failed")
    await commit_events(database, fresh_topic, committed)

    assert await OutboxRelay(database, publisher, metrics).publish_batch() == 1

    records = await read_topic(fresh_topic.name)
    assert [decode(r.value).event_id for r in records] == [committed.event_id]


async def test_rows_stay_pending_while_the_producer_cannot_send(
    database: Database,
    broker: str,
    publisher: Publisher,
    metrics: ServiceMetrics,
    fresh_topic: TopicSpec,
    read_topic: TopicReader,
) -> None:
    envelopes = [registered("member-1"), registered("member-2")]
    await commit_events(database, fresh_topic, *envelopes)
    broken = Publisher(broker, client_id="broken")
    await broken.start()
    await broken.stop()  # every send now fails

    with pytest.raises(Exception, match="ProducerClosed"):
        await OutboxRelay(database, broken, metrics).publish_batch()
    assert await pending_event_ids(database) == [e.event_id for e in envelopes]

    assert await OutboxRelay(database, publisher, metrics).publish_batch() == 2
    assert await pending_event_ids(database) == []
    records = await read_topic(fresh_topic.name)
    assert sorted(decode(r.value).event_id for r in records) == sorted(
        e.event_id for e in envelopes
    )


async def test_running_relay_survives_an_outage_and_catches_up(
    database: Database,
    broker: str,
    publisher: Publisher,
    metrics: ServiceMetrics,
    fresh_topic: TopicSpec,
    read_topic: TopicReader,
) -> None:
    async def failed_at_least_once() -> bool:
        return bool(metrics.registry.get_sample_value("test_outbox_publish_failures_total"))

    async def drained() -> bool:
        return await pending_event_ids(database) == []

    await commit_events(database, fresh_topic, registered("member-1"))
    never_started = Publisher(broker, client_id="not-yet")  # the broker was away at start
    relay = OutboxRelay(database, never_started, metrics, idle_interval_s=0.05)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(failed_at_least_once)
        assert not task.done()  # the relay keeps going
        await commit_events(database, fresh_topic, registered("member-2"))
        relay.producer = publisher  # the broker is back
        await eventually(drained)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    records = await read_topic(fresh_topic.name)
    assert sorted(r.key for r in records) == [b"member-1", b"member-2"]
