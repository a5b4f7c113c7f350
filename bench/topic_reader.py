"""Reading a topic of the benchmark's stack from its beginning, in the background (the stack
is fresh, so every record is the run's). The local broker's end offsets do not count records,
so reading them is how a benchmark knows what has happened."""

from __future__ import annotations

import asyncio
from typing import Any

from events.v1.envelope_pb2 import Envelope

from bench.baseline import assigned_consumer


def envelope_of(record: Any) -> Envelope:
    envelope = Envelope()
    envelope.ParseFromString(record.value)
    return envelope


def epoch(envelope: Envelope) -> float:
    return envelope.occurred_at.ToNanoseconds() / 1e9


class TopicReader:
    """Hands every record of `topic` to `on_record`, from `start()` until `stop()`."""

    def __init__(self, broker: str, topic: str) -> None:
        self.broker = broker
        self.topic = topic
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.consumer = await assigned_consumer(self.broker, self.topic)
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=100, max_records=1000)
            for records in batches.values():
                for record in records:
                    self.on_record(record)

    def on_record(self, record: Any) -> None:
        raise NotImplementedError

    def check(self) -> None:
        """Raises what stopped the reader, if it died."""
        if self.task is not None and self.task.done():
            self.task.result()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.consumer.stop()


class Subjects(TopicReader):
    """The distinct subjects (record keys: member ids) with an event on the topic so far."""

    def __init__(self, broker: str, topic: str) -> None:
        super().__init__(broker, topic)
        self.seen: set[bytes] = set()

    def on_record(self, record: Any) -> None:
        self.seen.add(record.key)

    def __len__(self) -> int:
        self.check()
        return len(self.seen)
