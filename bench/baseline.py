"""The raw broker baseline: produce N messages (acks=all, like the services' relay) to a fresh
topic and consume them all back, through the same broker the stack uses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

MESSAGE_BYTES = 200
PARTITIONS = 6  # as the catalogue's topics


@dataclass(frozen=True)
class BaselineResult:
    messages: int
    received: int
    produce_s: float  # first send -> last ack
    total_s: float  # first send -> last message consumed

    @property
    def produce_rate(self) -> float:
        return self.messages / self.produce_s if self.produce_s > 0 else 0.0

    @property
    def rate(self) -> float:
        """Produce + consume throughput, the baseline the end-to-end figure is compared to."""
        return self.received / self.total_s if self.total_s > 0 else 0.0


def create_topic(bootstrap: str, name: str, partitions: int = PARTITIONS) -> None:
    """Blocking (kafka-python), like services.common.topics.provision."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kontingent-bench")
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()


async def assigned_consumer(
    bootstrap: str, topic: str, timeout_s: float = 30.0
) -> AIOKafkaConsumer:
    """A group-less consumer on every partition of `topic`, positioned at the beginning."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="kontingent-bench",
        # The local broker answers a fetch parked on an empty partition only when its wait
        # runs out (about half of it), not when data arrives; the default 500 ms would put a
        # fixed ~250 ms into every small run.
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    deadline = time.monotonic() + timeout_s
    while True:
        await consumer.topics()  # refreshes metadata
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            break
        if time.monotonic() > deadline:
            await consumer.stop()
            raise TimeoutError(f"topic {topic} has no partitions")
        await asyncio.sleep(0.2)
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    for tp in tps:
        await consumer.position(tp)  # resolve now, before anything is produced
    return consumer


async def run_baseline(bootstrap: str, n: int, timeout_s: float = 120.0) -> BaselineResult:
    topic = f"bench.baseline-{uuid.uuid4().hex[:8]}.v1"
    await asyncio.get_running_loop().run_in_executor(None, create_topic, bootstrap, topic)
    consumer = await assigned_consumer(bootstrap, topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="kontingent-bench",
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        request_timeout_ms=15000,
    )
    await producer.start()
    received = 0
    last_received = 0.0
    done = asyncio.Event()

    async def drain() -> None:
        nonlocal received, last_received
        while received < n:
            batches = await consumer.getmany(timeout_ms=200, max_records=1000)
            count = sum(len(records) for records in batches.values())
            if count:
                received += count
                last_received = time.perf_counter()
        done.set()

    payloads = [(str(uuid.uuid4()).encode(), os.urandom(MESSAGE_BYTES)) for _ in range(n)]
    drainer = asyncio.create_task(drain())
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, value, key=key) for key, value in payloads]
        await asyncio.gather(*futures)
        produced = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout_s)
        finished = last_received or time.perf_counter()
    finally:
        drainer.cancel()
        await asyncio.gather(drainer, return_exceptions=True)
        await producer.stop()
        await consumer.stop()
    return BaselineResult(n, received, produced - started, finished - started)
