"""A poison event (bytes that are no event at all) on every partition of every topic,
mid-stream. Each consumer parks it in the topic's `.dlq`, with headers saying which consumer
failed and why, and goes on with the partition: the sign-ups and payments behind it are
handled as if nothing happened."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from kafka import KafkaProducer

from kontingent_cli.devstack import SERVICES, Stack
from services.common.consumer import H_CONSUMER, H_SOURCE
from services.common.topics import CATALOG
from tests.drills.books import settled_books
from tests.drills.conftest import MEMBERS
from tests.drills.rig import Rig
from tests.e2e.helpers import read_topics, wait_until

pytestmark = [pytest.mark.drill, pytest.mark.timeout(900)]

POISON = b"\x00\xffnot an event"


def consumed_topics(stack: Stack) -> dict[str, set[str]]:
    """Each service's topics, as it reports them (the partitions it is assigned, in its
    consumer lag metric)."""
    topics: dict[str, set[str]] = {}
    for service in SERVICES:
        for line in stack.metrics_page(service).splitlines():
            if line.startswith(f"{service}_consumer_lag_messages{{"):
                topic = line.split('topic="', 1)[1].split('"', 1)[0]
                if not topic.endswith(".retry"):
                    topics.setdefault(service, set()).add(topic)
    return topics


def poison_every_partition(stack: Stack) -> int:
    producer = KafkaProducer(bootstrap_servers=stack.broker, acks="all")
    sent = 0
    try:
        for spec in CATALOG:
            for partition in range(spec.partitions):
                producer.send(spec.name, POISON, key=b"poison", partition=partition)
                sent += 1
        producer.flush()
    finally:
        producer.close()
    return sent


def test_a_poison_event_on_each_topic_lands_in_its_dlq_and_the_partition_moves_on(
    rig: Rig,
) -> None:
    api_key = rig.org("Gift IL", "974760673")
    stack = rig.stack
    load = rig.start_load(api_key, MEMBERS)
    time.sleep(5)
    consumed = consumed_topics(stack)
    poison_every_partition(stack)
    traffic = load.result(timeout=600)

    partitions = {spec.name: spec.partitions for spec in CATALOG}
    expected = {(t, s) for s, topics in consumed.items() for t in topics}

    def parked() -> tuple[list[Any], Counter[tuple[str, str]]] | None:
        """The dead letters, and how many each service parked by topic, once every
        consumer of every topic has parked its poisons."""
        records = read_topics(stack.broker, [spec.dlq for spec in CATALOG])
        by_service = Counter(
            (
                dict(r.headers)[H_SOURCE].decode(),
                dict(r.headers)[H_CONSUMER].decode().split(".", 1)[0],
            )
            for r in records
        )
        return (records, by_service) if set(by_service) >= expected else None

    records, by_service = wait_until(parked, timeout_s=120, what="every poison parked")
    books = settled_books(stack, api_key, rig.sendgrid, traffic)
    problems = books.problems(traffic, Counter(r.topic for r in records))

    assert consumed, "no service reported a consumed topic"
    assert set(by_service) == expected
    for (topic, service), count in by_service.items():
        assert count % partitions[topic] == 0, f"{service} parked {count} poisons of {topic}"
    assert all(r.value == POISON for r in records), "a real event was dead-lettered"
    assert problems == [], problems[:20]
