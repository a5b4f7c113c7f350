"""Idempotent consumers with retry and dead-letter routing, on a real database and broker.

`EventConsumer.process` is what the faust agents call for every message; the tests call it
directly, as the main agent (attempt 0) and as the retry agent (attempt from x-attempt).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from aiokafka import ConsumerRecord
from billing.v1.events_pb2 import InvoiceIssued
from events.v1.envelope_pb2 import Envelope
from grpc.aio import AioRpcError, Metadata
from membership.v1.events_pb2 import MemberRegistered
from sqlalchemy import Column, MetaData, String, Table, func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.consumer import EventConsumer
from services.common.db.engine import Database
from services.common.db.tables import inbox
from services.common.envelope import new_envelope, unpack
from services.common.kafka import Publisher
from services.common.metrics import ServiceMetrics
from services.common.topics import TopicSpec

TopicReader = Callable[[str], Awaitable[list[ConsumerRecord]]]  # the read_topic fixture

# What the handler does: one row per member welcomed, in the consumer's own database.
test_metadata = MetaData()
welcomed = Table("welcomed", test_metadata, Column("member_id", String(64), nullable=False))


class WelcomeHandler:
    """A handler with a real effect; it can be told to fail after writing."""

    def __init__(self) -> None:
        self.failure: Exception | None = None
        self.failures_left = -1  # how many more calls raise `failure`; -1: every call
        self.fail_for: set[str] = set()  # members whose event always fails
        self.calls = 0

    async def __call__(self, session: AsyncSession, envelope: Envelope) -> None:
        self.calls += 1
        member = unpack(envelope, MemberRegistered)
        await session.execute(insert(welcomed).values(member_id=member.member_id))
        if self.failure is not None and self.failures_left != 0:
            self.failures_left -= 1
            raise self.failure
        if member.member_id in self.fail_for:
            raise RuntimeError("this member's event fails")


@pytest.fixture
async def db(database: Database) -> AsyncIterator[Database]:
    async with database.engine.begin() as conn:
        await conn.run_sync(test_metadata.create_all)
    yield database


@pytest.fixture
def handler() -> WelcomeHandler:
    return WelcomeHandler()


@pytest.fixture
def commits() -> list[str]:
    return []


@pytest.fixture
def consumer(
    db: Database,
    publisher: Publisher,
    metrics: ServiceMetrics,
    fresh_topic: TopicSpec,
    handler: WelcomeHandler,
    commits: list[str],
) -> EventConsumer:
    return EventConsumer(
        "welcome",
        fresh_topic,
        handler,
        database=db,
        producer=publisher,
        metrics=metrics,
        max_attempts=3,
        retry_base_s=0.01,
        after_commit=lambda: commits.append("commit"),
    )


def registered(member_id: str = "member-1") -> Envelope:
    return new_envelope(
        "membership.member-registered",
        MemberRegistered(member_id=member_id, org_id="org-1", language="nb"),
        org_id="org-1",
        subject_id=member_id,
    )


async def count(db: Database, table: Table) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


def headers(record: ConsumerRecord) -> dict[str, str]:
    return {name: value.decode() for name, value in record.headers}


async def test_an_event_is_handled_once(
    consumer: EventConsumer, db: Database, commits: list[str]
) -> None:
    envelope = registered()
    outcome = await consumer.process(envelope.SerializeToString(), b"member-1", attempt=0)
    assert outcome == "processed"
    assert await count(db, welcomed) == 1
    async with db.transaction() as session:
        rows = (await session.execute(select(inbox.c.consumer, inbox.c.event_id))).all()
    assert [tuple(row) for row in rows] == [("welcome", envelope.event_id)]
    assert commits == ["commit"]


async def test_a_redelivered_event_has_no_second_effect(
    consumer: EventConsumer,
    db: Database,
    metrics: ServiceMetrics,
    fresh_topic: TopicSpec,
    read_topic: TopicReader,
) -> None:
    raw = registered().SerializeToString()
    assert await consumer.process(raw, b"member-1", attempt=0) == "processed"
    assert await consumer.process(raw, b"member-1", attempt=0) == "duplicate"

    assert await count(db, welcomed) == 1
    assert await count(db, inbox) == 1
    assert await read_topic(fresh_topic.retry) == []
    assert await read_topic(fresh_topic.dlq) == []
    sample = metrics.registry.get_sample_value
    labels = {"consumer": "welcome"}
    assert sample("test_consumer_messages_total", {**labels, "outcome": "processed"}) == 1
    assert sample("test_consumer_messages_total", {**labels, "outcome": "duplicate"}) == 1


async def test_each_consumer_handles_the_event_once(
    consumer: EventConsumer,
    db: Database,
    publisher: Publisher,
    metrics: ServiceMetrics,
    fresh_topic: TopicSpec,
    handler: WelcomeHandler,
) -> None:
    other = EventConsumer(
        "audit", fresh_topic, handler, database=db, producer=publisher, metrics=metrics
    )
    raw = registered().SerializeToString()
    assert await consumer.process(raw, b"member-1", attempt=0) == "processed"
    assert await other.process(raw, b"member-1", attempt=0) == "processed"
    assert await other.process(raw, b"member-1", attempt=0) == "duplicate"
    assert await count(db, welcomed) == 2
    assert await count(db, inbox) == 2


async def test_a_failing_handler_leaves_no_effect_and_goes_to_retry(
    consumer: EventConsumer,
    db: Database,
    handler: WelcomeHandler,
    commits: list[str],
    fresh_topic: TopicSpec,
    read_topic: TopicReader,
) -> None:
    raw = registered().SerializeToString()
    handler.failure = RuntimeError("the mail gateway is down")

    assert await consumer.process(raw, b"member-1", attempt=0) == "retried"

    assert await count(db, welcomed) == 0  # the half-done effect was rolled back
    assert await count(db, inbox) == 0
    assert commits == []
    [record] = await read_topic(fresh_topic.retry)
    assert record.value == raw
    assert record.key == b"member-1"
    sent = headers(record)
    assert sent["x-consumer"] == "welcome"
    assert sent["x-attempt"] == "1"
    assert "RuntimeError" in sent["x-error"]
    assert "the mail gateway is down" in sent["x-error"]
    assert sent["x-source-topic"] == fresh_topic.name
    assert "x-retry-at" in sent
    assert await read_topic(fresh_topic.dlq) == []


async def test_a_retried_event_is_handled_once_the_fault_clears(
    consumer: EventConsumer,
    db: Database,
    handler: WelcomeHandler,
    fresh_topic: TopicSpec,
    read_topic: TopicReader,
) -> None:
    raw = registered().SerializeToString()
    handler.failure = RuntimeError("transient")
    await consumer.process(raw, b"member-1", attempt=0)
    handler.failure = None

    [record] = await read_topic(fresh_topic.retry)
    attempt = int(headers(record)["x-attempt"])
    assert await consumer.process(record.value, record.key, attempt=attempt) == "processed"
    assert await count(db, welcomed) == 1


@pytest.mark.parametrize(
    "outage",
    [
        OperationalError("INSERT", {}, ConnectionRefusedError("the database is away")),
        AioRpcError(grpc.StatusCode.UNAVAILABLE, Metadata(), Metadata(), "membership away"),
    ],
    ids=["database", "service"],
)
async def test_an_outage_is_waited_out_in_place_without_spending_attempts(
    consumer: EventConsumer,
    db: Database,
    handler: WelcomeHandler,
    fresh_topic: TopicSpec,
    read_topic: TopicReader,
    outage: Exception,
) -> None:
    handler.failure, handler.failures_left = outage, 3  # more than max_attempts would allow

    outcome = await consumer.process(registered().SerializeToString(), b"member-1", attempt=0)

    assert outcome == "processed"
    assert handler.calls == 4
    assert await count(db, welcomed) == 1
    assert await read_topic(fresh_topic.retry) == []
    assert await read_topic(fresh_topic.dlq) == []


async def test_an_event_that_keeps_failing_ends_in_the_dead_letter_topic(
    consumer: EventConsumer,
    db: Database,
    handler: WelcomeHandler,
    fresh_topic: TopicSpec,
    read_topic: TopicReader,
) -> None:
    raw = registered().SerializeToString()
    handler.failure = ValueError("bad data")
    outcomes = [await consumer.process(raw, b"member-1", attempt=0)]
    while outcomes[-1] == "retried" and len(outcomes) <= 10:
        last = (await read_topic(fresh_topic.retry))[-1]  # what the retry agent picks up
        attempt = int(headers(last)["x-attempt"])
        outcomes.append(await consumer.process(last.value, last.key, attempt=attempt))

    assert outcomes == ["retried", "retried", "dead_lettered"]
    retries = await read_topic(fresh_topic.retry)
    assert [headers(r)["x-attempt"] for r in retries] == ["1", "2"]
    [dead] = await read_topic(fresh_topic.dlq)
    assert dead.value == raw
    assert dead.key == b"member-1"
    assert headers(dead)["x-attempt"] == "3"
    assert "ValueError: bad data" in headers(dead)["x-error"]
    assert "x-retry-at" not in headers(dead)
    assert await count(db, welcomed) == 0


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xff this is not protobuf", "not an Envelope"),
        (Envelope(event_type="membership.member-registered").SerializeToString(), "event_id"),
    ],
    ids=["garbage", "no-event-id"],
)
async def test_an_undecodable_message_goes_straight_to_the_dead_letter_topic(
    consumer: EventConsumer,
    db: Database,
    raw: bytes,
    reason: str,
    fresh_topic: TopicSpec,
    read_topic: TopicReader,
) -> None:
    assert await consumer.process(raw, b"k", attempt=0) == "dead_lettered"

    [dead] = await read_topic(fresh_topic.dlq)
    assert dead.value == raw  # kept byte for byte, for whoever inspects it
    assert "PermanentFailure" in headers(dead)["x-error"]
    assert reason in headers(dead)["x-error"]
    assert headers(dead)["x-consumer"] == "welcome"
    assert await read_topic(fresh_topic.retry) == []
    assert await count(db, inbox) == 0


async def test_a_payload_of_the_wrong_type_is_dead_lettered_without_retries(
    consumer: EventConsumer,
    fresh_topic: TopicSpec,
    read_topic: TopicReader,
) -> None:
    wrong = new_envelope(
        "billing.invoice-issued",
        InvoiceIssued(invoice_id="inv-1"),
        org_id="org-1",
        subject_id="member-1",
    )
    assert await consumer.process(wrong.SerializeToString(), b"member-1", 0) == "dead_lettered"
    [dead] = await read_topic(fresh_topic.dlq)
    assert "billing.v1.InvoiceIssued" in headers(dead)["x-error"]
    assert await read_topic(fresh_topic.retry) == []


async def welcomed_members(db: Database) -> list[str]:
    async with db.sessions() as session:
        return sorted((await session.scalars(select(welcomed.c.member_id))).all())


async def test_a_batch_is_handled_once_in_order_skipping_what_was_seen(
    consumer: EventConsumer, db: Database, metrics: ServiceMetrics, commits: list[str]
) -> None:
    seen_before, first, second = registered("m-0"), registered("m-1"), registered("m-2")
    await consumer.process(seen_before.SerializeToString(), b"m-0", attempt=0)
    batch = [seen_before, first, second, first]  # redelivered and repeated within the batch
    await consumer.process_batch([(e.SerializeToString(), e.subject_id.encode()) for e in batch])

    assert await welcomed_members(db) == ["m-0", "m-1", "m-2"]
    assert await count(db, inbox) == 3
    sample = metrics.registry.get_sample_value
    labels = {"consumer": "welcome"}
    assert sample("test_consumer_messages_total", {**labels, "outcome": "processed"}) == 3
    assert sample("test_consumer_messages_total", {**labels, "outcome": "duplicate"}) == 2
    assert commits == ["commit", "commit"]  # one commit for the whole batch


async def test_a_failing_event_in_a_batch_is_rerouted_alone(
    consumer: EventConsumer,
    db: Database,
    handler: WelcomeHandler,
    fresh_topic: TopicSpec,
    read_topic: TopicReader,
) -> None:
    handler.fail_for = {"m-bad"}
    batch = [registered("m-1"), registered("m-bad"), registered("m-2")]
    garbage = b"\x00 not an envelope"
    await consumer.process_batch(
        [(garbage, b"junk"), *[(e.SerializeToString(), e.subject_id.encode()) for e in batch]]
    )

    assert await welcomed_members(db) == ["m-1", "m-2"]
    [retry] = await read_topic(fresh_topic.retry)
    assert retry.key == b"m-bad" and "this member's event fails" in headers(retry)["x-error"]
    [dead] = await read_topic(fresh_topic.dlq)
    assert dead.value == garbage


async def test_prefetch_sees_the_batch_and_its_failure_is_not_fatal(
    db: Database,
    publisher: Publisher,
    metrics: ServiceMetrics,
    fresh_topic: TopicSpec,
    handler: WelcomeHandler,
) -> None:
    seen: list[list[str]] = []

    async def prefetch(envelopes: list[Envelope]) -> None:
        seen.append([e.subject_id for e in envelopes])
        raise ConnectionError("directory away")

    consumer = EventConsumer(
        "welcome",
        fresh_topic,
        handler,
        database=db,
        producer=publisher,
        metrics=metrics,
        prefetch=prefetch,
    )
    batch = [registered("m-1"), registered("m-2")]
    await consumer.process_batch([(e.SerializeToString(), b"k") for e in batch])
    assert seen == [["m-1", "m-2"]]
    assert await welcomed_members(db) == ["m-1", "m-2"]
