"""Event consumers on faust: idempotent, at-least-once, and never losing a message.

Each consumer is two faust agents: one on the topic, one on its `.retry` companion. A handler
runs inside a database transaction together with the inbox record. A failure is routed to
`.retry` (with the error and the attempt in headers) and, when attempts run out or the message
can never succeed, to `.dlq`. Messages are acked only after they were handled or re-routed.

Events are taken in small batches and handled in arrival order (so one member's events stay
ordered) in one transaction. An optional prefetch step sees the whole batch first and does the
batch's I/O (e.g. one gRPC call for all contacts) outside the transaction. If anything in a
batch fails, the batch is rolled back and its events are handled one by one, so that only the
failing one is re-routed: handlers' effects outside the database must therefore be idempotent.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

import faust
import grpc
from events.v1.envelope_pb2 import Envelope
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.backoff import pause_after
from services.common.db.engine import Database
from services.common.envelope import decode
from services.common.errors import PermanentFailure, database_away
from services.common.grpc.client import TRANSIENT
from services.common.inbox import mark_processed, processed_among
from services.common.kafka import Publisher
from services.common.logging import get_logger
from services.common.metrics import ServiceMetrics
from services.common.topics import TopicSpec

log = get_logger(__name__)

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]
Prefetch = Callable[[list[Envelope]], Awaitable[None]]

H_CONSUMER = "x-consumer"
H_ATTEMPT = "x-attempt"
H_RETRY_AT = "x-retry-at"
H_ERROR = "x-error"
H_SOURCE = "x-source-topic"
H_FAILED_AT = "x-failed-at"
MAX_ERROR_CHARS = 500


def passing_failure(exc: BaseException) -> bool:
    """A failure of the surroundings, not of the message: the database away, or a service
    the handler calls answering UNAVAILABLE or not in time."""
    if database_away(exc):
        return True
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() in TRANSIENT


def headers_of(message: faust.types.Message) -> dict[str, bytes]:
    raw = message.headers or []
    items: Iterable[tuple[str, bytes]] = raw.items() if isinstance(raw, dict) else raw
    return {k: v for k, v in items}


class EventConsumer:
    def __init__(
        self,
        name: str,
        topic: TopicSpec,
        handler: Handler,
        *,
        database: Database,
        producer: Publisher,
        metrics: ServiceMetrics,
        max_attempts: int = 5,
        retry_base_s: float = 0.5,
        after_commit: Callable[[], None] = lambda: None,
        prefetch: Prefetch | None = None,
        batch_size: int = 200,
        batch_window_s: float = 0.05,
    ) -> None:
        self.name = name
        self.topic = topic
        self.handler = handler
        self.database = database
        self.producer = producer
        self.metrics = metrics
        self.max_attempts = max_attempts
        self.retry_base_s = retry_base_s
        self.after_commit = after_commit
        self.prefetch = prefetch
        self.batch_size = batch_size
        self.batch_window_s = batch_window_s

    def attach(self, app: faust.App) -> None:
        main = app.topic(self.topic.name, value_serializer="raw", key_serializer="raw")
        retry = app.topic(self.topic.retry, value_serializer="raw", key_serializer="raw")
        app.agent(main, name=self.name)(self._consume_main)
        app.agent(retry, name=f"{self.name}-retry")(self._consume_retry)

    async def _consume_main(self, stream: faust.StreamT) -> None:
        async for events in stream.take_events(self.batch_size, within=self.batch_window_s):
            await self.process_batch([(e.message.value, e.message.key) for e in events])

    async def process_batch(self, messages: list[tuple[bytes | None, bytes | None]]) -> None:
        started = time.perf_counter()
        decoded: list[tuple[Envelope, bytes | None, bytes | None]] = []
        for raw, key in messages:
            try:
                decoded.append((decode(raw), raw, key))
            except PermanentFailure as exc:
                self._count(await self._reroute(raw, key, exc, 0, permanent=True), started)
        if not decoded:
            return
        if self.prefetch is not None:
            try:
                await self.prefetch([envelope for envelope, _, _ in decoded])
            except Exception as exc:  # the handlers fetch what they miss themselves
                log.warning("prefetch_failed", consumer=self.name, error=type(exc).__name__)
        outcomes: list[str] = []
        try:
            # A batch is a short run of indexed statements: on a SQLite file, on the loop
            # itself. If it fails for any reason (the file locked too), the events are
            # handled one by one below, in ordinary transactions.
            async with self.database.transaction(inline=True) as session:
                seen = await processed_among(
                    session, self.name, [envelope.event_id for envelope, _, _ in decoded]
                )
                fresh: list[str] = []
                for envelope, _, _ in decoded:
                    if envelope.event_id in seen:
                        outcomes.append("duplicate")
                        continue
                    await self.handler(session, envelope)
                    seen.add(envelope.event_id)
                    fresh.append(envelope.event_id)
                    outcomes.append("processed")
                await mark_processed(session, self.name, fresh)
        except Exception:
            for _, raw, key in decoded:
                await self.process(raw, key, attempt=0)
            return
        self.after_commit()
        for outcome in outcomes:
            self._count(outcome, started, len(outcomes))

    async def _consume_retry(self, stream: faust.StreamT) -> None:
        async for event in stream.events():
            headers = headers_of(event.message)
            if headers.get(H_CONSUMER, b"").decode() != self.name:
                continue  # another service's consumer failed on this topic
            delay = float(headers.get(H_RETRY_AT, b"0")) - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            attempt = int(headers.get(H_ATTEMPT, b"1"))
            await self.process(event.message.value, event.message.key, attempt=attempt)

    async def process(self, raw: bytes | None, key: bytes | None, attempt: int) -> str:
        """Handle one message; returns the outcome that was counted. While the failure is
        not the message's but a passing one (the database or a service it needs away), the
        message is tried again in place, without spending its attempts: the partition
        waits, as everything behind it would fail the same way, and nothing good is
        dead-lettered by an outage."""
        started = time.perf_counter()
        waits = 0
        while True:
            try:
                outcome = await self._handle(raw)
                break
            except PermanentFailure as exc:
                outcome = await self._reroute(raw, key, exc, attempt, permanent=True)
                break
            except Exception as exc:
                if not passing_failure(exc):
                    outcome = await self._reroute(raw, key, exc, attempt, permanent=False)
                    break
                waits += 1
                log.warning(
                    "consumer_waits", consumer=self.name, error=type(exc).__name__, waits=waits
                )
                await asyncio.sleep(pause_after(0.0, waits))
        self._count(outcome, started)
        return outcome

    async def _handle(self, raw: bytes | None) -> str:
        envelope = decode(raw)
        async with self.database.transaction() as session:
            if await processed_among(session, self.name, [envelope.event_id]):
                return "duplicate"
            await self.handler(session, envelope)
            await mark_processed(session, self.name, [envelope.event_id])
        self.after_commit()
        return "processed"

    def _count(self, outcome: str, started: float, batch_size: int = 1) -> None:
        self.metrics.consumer_messages.labels(self.name, outcome).inc()
        self.metrics.consumer_duration.labels(self.name).observe(
            (time.perf_counter() - started) / batch_size
        )

    async def _reroute(
        self, raw: bytes | None, key: bytes | None, exc: Exception, attempt: int, *, permanent: bool
    ) -> str:
        next_attempt = attempt + 1
        dead = permanent or next_attempt >= self.max_attempts
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        headers = {
            H_CONSUMER: self.name,
            H_ATTEMPT: str(next_attempt),
            H_ERROR: error,
            H_SOURCE: self.topic.name,
            H_FAILED_AT: datetime.now(UTC).isoformat(),
        }
        if not dead:
            backoff = self.retry_base_s * 2**attempt
            headers[H_RETRY_AT] = f"{time.time() + backoff * random.uniform(0.5, 1.5):.3f}"
        target = self.topic.dlq if dead else self.topic.retry
        log.warning(
            "consumer_failed",
            consumer=self.name,
            attempt=next_attempt,
            error=error,
            routed_to=target,
        )
        await self._send_until_accepted(target, raw or b"", key, headers)
        return "dead_lettered" if dead else "retried"

    async def _send_until_accepted(
        self, topic: str, value: bytes, key: bytes | None, headers: dict[str, str]
    ) -> None:
        # The message is acked once this returns, so giving up here would lose it: with the
        # broker away the partition waits, which is all it could do anyway.
        pause = 0.5
        while True:
            try:
                await self.producer.send_and_wait(
                    topic, value, key=key, headers=[(k, v.encode()) for k, v in headers.items()]
                )
                return
            except Exception as exc:
                log.warning("reroute_send_failed", topic=topic, error=type(exc).__name__)
                await asyncio.sleep(pause * random.uniform(0.5, 1.5))
                pause = min(pause * 2, 10.0)
