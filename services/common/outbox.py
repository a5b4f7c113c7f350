"""Transactional outbox: an event is written in the same transaction as the state change it
announces; the relay publishes pending rows with acks=all and marks them published."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from datetime import UTC, datetime

from events.v1.envelope_pb2 import Envelope
from sqlalchemy import Select, Update, bindparam, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.engine import Database
from services.common.db.tables import outbox
from services.common.kafka import Publisher
from services.common.logging import get_logger
from services.common.metrics import ServiceMetrics
from services.common.topics import TopicSpec

log = get_logger(__name__)


OUTBOX_INSERT = insert(outbox)


@functools.cache
def _mark_statement() -> Update:
    """Marks rows published: compiled once (an expanding IN), the seqs bound per call."""
    return (
        update(outbox)
        .where(outbox.c.seq.in_(bindparam("seqs", expanding=True, type_=outbox.c.seq.type)))
        .values(published_at=bindparam("at", type_=outbox.c.published_at.type))
    )


@functools.cache
def _pending_statement(limit: int) -> Select:
    """Rows to publish, oldest first; built once per batch size (its cache key is then
    computed once, not on every poll)."""
    return (
        select(outbox.c.seq, outbox.c.topic, outbox.c.key, outbox.c.value)
        .where(outbox.c.published_at.is_(None))
        .order_by(outbox.c.seq)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def _marked(seqs: list[int]) -> dict[str, object]:
    return {"seqs": seqs, "at": datetime.now(UTC)}


def outbox_row(topic: TopicSpec, envelope: Envelope) -> dict[str, object]:
    """An outbox row for the event, keyed by subject, else org."""
    return {
        "event_id": envelope.event_id,
        "topic": topic.name,
        "key": envelope.subject_id or envelope.org_id,
        "value": envelope.SerializeToString(),
        "created_at": datetime.now(UTC),
    }


async def add_event(session: AsyncSession, topic: TopicSpec, envelope: Envelope) -> None:
    """Queue an event inside the caller's transaction."""
    # Parameters apart from the statement: it is compiled once, not coerced on every call.
    await session.execute(OUTBOX_INSERT, outbox_row(topic, envelope))


class OutboxRelay:
    def __init__(
        self,
        database: Database,
        producer: Publisher,
        metrics: ServiceMetrics,
        batch_size: int = 500,
        idle_interval_s: float = 0.2,
        linger_s: float = 0.002,
    ) -> None:
        self.database = database
        self.producer = producer
        self.metrics = metrics
        self.batch_size = batch_size
        self.idle_interval_s = idle_interval_s
        self.linger_s = linger_s
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Called after a commit that added events, so they go out without waiting a tick."""
        self._wakeup.set()

    async def run(self) -> None:
        backoff = self.idle_interval_s
        while True:
            self._wakeup.clear()  # before reading, so a wake during the batch is not lost
            try:
                published = await self.publish_batch()
                backoff = self.idle_interval_s
            except Exception as exc:  # broker or database away: keep the rows, try again later
                self.metrics.outbox_publish_failures.inc()
                log.warning("outbox_publish_failed", error=type(exc).__name__, retry_in_s=backoff)
                published = 0
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if published < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.idle_interval_s)
                # Let commits that arrive together go out together.
                await asyncio.sleep(self.linger_s)

    async def publish_batch(self) -> int:
        if self.database.is_sqlite:
            # One relay per SQLite file: read, send, then mark in a short write transaction,
            # so a slow or absent broker never holds the file's write turn. On a file, the
            # read runs on the loop itself (no thread hops); the mark in a session, whose
            # commit also checkpoints the WAL when due, off the loop.
            rows = await self._pending_sqlite()
            if rows:
                await self._send(rows)
                async with self.database.transaction() as session:
                    await self._mark_published(session, rows)
        else:
            # Replicas share the database: rows are locked while sent, others skip them.
            async with self.database.transaction() as session:
                rows = await self._pending(session)
                if rows:
                    await self._send(rows)
                    await self._mark_published(session, rows)
        self.metrics.outbox_published.inc(len(rows))
        return len(rows)

    def _pending_statement(self) -> Select:
        return _pending_statement(self.batch_size)

    async def _pending(self, session: AsyncSession) -> list[Row]:
        return list((await session.execute(self._pending_statement())).all())

    async def _pending_sqlite(self) -> list[Row]:
        if self.database.reads_inline:
            try:
                return self.database.read_inline(self._pending_statement(), {})
            except OperationalError:
                pass  # the file stayed locked: wait in a session
        async with self.database.sessions() as session:
            return await self._pending(session)

    async def _send(self, rows: list[Row]) -> None:
        futures = [
            await self.producer.send(row.topic, row.value, key=row.key.encode()) for row in rows
        ]
        await asyncio.gather(*futures)

    @staticmethod
    async def _mark_published(session: AsyncSession, rows: list[Row]) -> None:
        await session.execute(_mark_statement(), _marked([row.seq for row in rows]))

    async def measure_backlog(self) -> int:
        """Rows waiting to be published, for the gauge; measured apart from publishing so
        that it also shows what is stuck while the broker is away."""
        async with self.database.sessions() as session:
            backlog = (
                await session.scalar(
                    select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
                )
                or 0
            )
        self.metrics.outbox_backlog.set(backlog)
        return backlog
