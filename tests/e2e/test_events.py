"""What travels between services: no personal data on any topic or in any database,
duplicates have one effect, a poison message is dead-lettered and the consumer goes on."""

from __future__ import annotations

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient

from kontingent_cli.devstack import Stack
from services.common.topics import MEMBER_REGISTERED
from tests.e2e.helpers import (
    cli_json,
    create_org,
    database_bytes,
    emails_to,
    erase,
    export_once_invoiced,
    read_topic,
    read_topics,
    register,
    wait_until,
)

pytestmark = pytest.mark.e2e

PEOPLE = [
    ("Ingrid Kvalheim-Solberg", "ingrid.kvalheim@example.no", "+4790011223"),
    ("Tormod Aasgaard", "tormod.aasgaard@example.org", "+4745566778"),
]


@pytest.fixture(scope="module")
def events_org(stack: Stack) -> dict[str, str]:
    return create_org(stack, "Stavanger Sangkor", "971526920")


def register_welcomed(stack: Stack, org: dict[str, str], name: str, email: str, phone: str) -> str:
    member = register(stack, org, name, email, phone)
    wait_until(lambda: emails_to(stack, email), what=f"welcome to {email}")
    return member["member_id"]


def test_no_personal_data_on_topics_or_in_databases(
    stack: Stack, events_org: dict[str, str]
) -> None:
    kept = register_welcomed(stack, events_org, *PEOPLE[0])
    erased = register_welcomed(stack, events_org, *PEOPLE[1])
    erase(stack, events_org["org_id"], erased)
    assert kept and erased

    admin = KafkaAdminClient(bootstrap_servers=stack.broker)
    topics = [t for t in admin.list_topics() if not t.startswith("__")]
    admin.close()
    assert MEMBER_REGISTERED.name in topics
    records = read_topics(stack.broker, topics)
    assert len(records) >= 2, "the slice produced events"
    raw_topics = b"".join(
        (r.key or b"") + (r.value or b"") + b"".join(v for _, v in r.headers) for r in records
    )
    stores = database_bytes(stack)
    for name, email, phone in PEOPLE:
        for needle in (name, name.split()[0], email, email.split("@")[0], phone, phone[3:]):
            assert needle.encode() not in raw_topics, f"{needle!r} on a topic"
            for service, raw in stores.items():
                assert needle.encode() not in raw, f"{needle!r} in {service}'s database"


def test_redelivered_event_has_one_effect(stack: Stack, events_org: dict[str, str]) -> None:
    member_id = register_welcomed(stack, events_org, "Hedda Lie", "hedda@example.no", "+4790022334")
    [original] = [
        r for r in read_topic(stack.broker, MEMBER_REGISTERED.name) if r.key == member_id.encode()
    ]
    duplicates_before = stack.metric(
        "billing", "billing_consumer_messages_total", {"outcome": "duplicate"}
    )

    producer = KafkaProducer(bootstrap_servers=stack.broker, acks="all")
    for _ in range(3):
        producer.send(MEMBER_REGISTERED.name, original.value, key=original.key)
    producer.flush()
    producer.close()

    wait_until(
        lambda: (
            stack.metric("billing", "billing_consumer_messages_total", {"outcome": "duplicate"})
            >= duplicates_before + 3
        ),
        what="billing to see the duplicates",
    )
    wait_until(
        lambda: (
            stack.metric("notify", "notify_consumer_messages_total", {"outcome": "duplicate"}) >= 3
        ),
        what="notify duplicates",
    )
    stores = cli_json(stack, "member", "export", member_id, "--org", events_org["org_id"])
    assert len(stores["stores"]["billing"]["invoices"]) == 1
    welcomes = [m for m in stores["stores"]["notify"]["messages"] if m["template"] == "welcome"]
    assert len(welcomes) == 1
    assert len(emails_to(stack, "hedda@example.no", subject="Velkommen")) == 1


def test_poison_event_is_dead_lettered_and_consumers_go_on(
    stack: Stack, events_org: dict[str, str]
) -> None:
    producer = KafkaProducer(bootstrap_servers=stack.broker, acks="all")
    producer.send(MEMBER_REGISTERED.name, b"\x00not a protobuf envelope\xff", key=b"poison")
    producer.flush()
    producer.close()

    def dead_letters() -> list:
        return [r for r in read_topic(stack.broker, MEMBER_REGISTERED.dlq) if r.key == b"poison"]

    letters = wait_until(
        lambda: len(dead_letters()) >= 2 and dead_letters(), what="poison in the DLQ"
    )
    consumers = {dict(r.headers)["x-consumer"].decode() for r in letters}
    assert consumers == {"billing.member-registered", "notify.member-registered"}
    for letter in letters:
        assert b"PermanentFailure" in dict(letter.headers)["x-error"]
        assert dict(letter.headers)["x-source-topic"] == MEMBER_REGISTERED.name.encode()

    # The partitions moved on: the next sign-up is invoiced and welcomed.
    member_id = register_welcomed(
        stack, events_org, "Jon Berg", "jon.berg@example.no", "+4790033445"
    )
    export = export_once_invoiced(stack, events_org, member_id)
    assert len(export["stores"]["billing"]["invoices"]) == 1
    assert (
        stack.metric("billing", "billing_consumer_messages_total", {"outcome": "dead_lettered"})
        >= 1
    )
