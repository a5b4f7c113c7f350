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
from tests.drills.conftest import LOAD_TIMEOUT_S, MEMBERS, TEST_TIMEOUT_S
from tests.drills.rig import Rig
from tests.e2e.helpers import read_topics, wait_until

pytestmark = [pytest.mark.drill, pytest.mark.timeout(TEST_TIMEOUT_S)]

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
    poison_every_partition(stack)
    traffic = load.result(timeout=LOAD_TIMEOUT_S)

    partitions = {spec.name: spec.partitions for spec in CATALOG}

    def parked() -> tuple[list[Any], Counter[tuple[str, str]], set[tuple[str, str]]] | None:
        """The dead letters, how many each consumer parked by topic, and the (topic, service)
        pairs the services consume, once each consumer seen has parked one poison per
        partition and every pair has a consumer that did (and it stays so a moment)."""
        expected = {(t, s) for s, topics in consumed_topics(stack).items() for t in topics}
        records = read_topics(stack.broker, [spec.dlq for spec in CATALOG])
        by_consumer = Counter(
            (dict(r.headers)[H_SOURCE].decode(), dict(r.headers)[H_CONSUMER].decode())
            for r in records
        )
        covered = {(topic, consumer.split(".", 1)[0]) for topic, consumer in by_consumer}
        complete = covered >= expected and all(
            count == partitions[topic] for (topic, _), count in by_consumer.items()
        )
        return (records, by_consumer, expected) if complete else None

    wait_until(parked, timeout_s=120, what="every poison parked")
    time.sleep(3)
    records, by_consumer, expected = wait_until(parked, timeout_s=30, what="parked to stay")
    books = settled_books(stack, api_key, rig.sendgrid, traffic)
    problems = books.problems(traffic, Counter(r.topic for r in records))

    assert expected, "no service reported a consumed topic"
    assert {(t, c.split(".", 1)[0]) for t, c in by_consumer} == expected
    assert all(r.value == POISON for r in records), "a real event was dead-lettered"
    assert problems == [], problems[:20]
