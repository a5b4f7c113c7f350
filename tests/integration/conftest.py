"""Integration helpers: a migrated database, fresh topics on the real broker, a started
publisher, and a reader that returns everything a topic holds."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from prometheus_client import CollectorRegistry

from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.kafka import Publisher
from services.common.metrics import ServiceMetrics
from services.common.topics import TopicSpec, provision

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"

TopicReader = Callable[[str], Awaitable[list[ConsumerRecord]]]


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A fresh database (SQLite and PostgreSQL) migrated to head; erasure's schema is the
    smallest that carries the outbox and inbox tables."""
    db = Database(database_url)
    await upgrade_to_head(db, SERVICES_DIR / "erasure" / "migrations")
    yield db
    await db.close()


@pytest.fixture
def metrics() -> ServiceMetrics:
    return ServiceMetrics("test", registry=CollectorRegistry())


@pytest.fixture
def fresh_topic(broker: str) -> TopicSpec:
    """A topic (with .retry and .dlq) no other test writes to."""
    spec = TopicSpec(f"test.t{uuid.uuid4().hex[:12]}.v1", partitions=3)
    provision(broker, (spec,))
    return spec


@pytest.fixture
async def publisher(broker: str) -> AsyncIterator[Publisher]:
    started = Publisher(broker, client_id="integration-test")
    await started.start()
    yield started
    await started.stop()


@pytest.fixture
def read_topic(broker: str) -> TopicReader:
    """Returns an async function: topic name -> every record it holds, in partition order."""

    async def read(topic: str) -> list[ConsumerRecord]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=broker, enable_auto_commit=False, fetch_max_wait_ms=50
        )
        await consumer.start()
        try:
            partitions = sorted(consumer.partitions_for_topic(topic) or [])
            assert partitions, f"topic {topic} does not exist"
            tps = [TopicPartition(topic, p) for p in partitions]
            end = await consumer.end_offsets(tps)  # before assigning: no fetch in flight
            if not any(end.values()):
                return []
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            records: dict[TopicPartition, list[ConsumerRecord]] = {tp: [] for tp in tps}
            while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
                batch = await consumer.getmany(*tps, timeout_ms=1000)
                for tp, messages in batch.items():
                    records[tp].extend(messages)
            return [record for tp in tps for record in records[tp]]
        finally:
            await consumer.stop()

    return read
