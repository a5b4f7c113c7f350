"""Topics are contracts: named `<domain>.<event>.v<N>`, created explicitly with their
partition counts and `.retry` / `.dlq` companions, never by auto-creation."""

from __future__ import annotations

import time
from dataclasses import dataclass

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from services.common.kafka import KafkaConnection
from services.common.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 6

    @property
    def retry(self) -> str:
        return f"{self.name}.retry"

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"

    def all_names(self) -> list[str]:
        return [self.name, self.retry, self.dlq]


MEMBER_REGISTERED = TopicSpec("membership.member-registered.v1")
MEMBER_STATUS_CHANGED = TopicSpec("membership.member-status-changed.v1")
CONSENT_CHANGED = TopicSpec("membership.consent-changed.v1")
POLICY_PUBLISHED = TopicSpec("membership.policy-published.v1")
RECONSENT_REQUESTED = TopicSpec("membership.reconsent-requested.v1")
PRIVACY_LINK_REQUESTED = TopicSpec("membership.privacy-link-requested.v1")
INVOICE_ISSUED = TopicSpec("billing.invoice-issued.v1")
PAYMENT_SUCCEEDED = TopicSpec("billing.payment-succeeded.v1")
DUNNING_EXHAUSTED = TopicSpec("billing.dunning-exhausted.v1")
PAYMENT_FAILED = TopicSpec("billing.payment-failed.v1")
PAYMENT_REFUNDED = TopicSpec("billing.payment-refunded.v1")
REMINDER_DUE = TopicSpec("billing.reminder-due.v1")
MESSAGE_RECORDED = TopicSpec("notify.message-recorded.v1")
ERASURE_REQUESTED = TopicSpec("privacy.erasure-requested.v1")
ERASURE_COMPLETED = TopicSpec("privacy.erasure-completed.v1")
EXPORT_READY = TopicSpec("privacy.export-ready.v1")
SUBPROCESSORS_CHANGED = TopicSpec("privacy.subprocessors-changed.v1")
RETENTION_PROFILE_LOADED = TopicSpec("privacy.retention-profile-loaded.v1")

CATALOG: tuple[TopicSpec, ...] = (
    MEMBER_REGISTERED,
    MEMBER_STATUS_CHANGED,
    CONSENT_CHANGED,
    POLICY_PUBLISHED,
    RECONSENT_REQUESTED,
    PRIVACY_LINK_REQUESTED,
    INVOICE_ISSUED,
    PAYMENT_SUCCEEDED,
    DUNNING_EXHAUSTED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    REMINDER_DUE,
    MESSAGE_RECORDED,
    ERASURE_REQUESTED,
    ERASURE_COMPLETED,
    EXPORT_READY,
    SUBPROCESSORS_CHANGED,
    RETENTION_PROFILE_LOADED,
)


def provision(
    broker: KafkaConnection | str,
    specs: tuple[TopicSpec, ...] = CATALOG,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create every missing topic; returns the names created. Blocking (kafka-python)."""
    options = KafkaConnection.of(broker).client_options()
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(**options, client_id="kontingent-provisioner")
            break
        except KafkaError:  # no broker answering yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(name, spec.partitions, 1)
            for spec in specs
            for name in spec.all_names()
            if name not in existing
        ]
        created: list[str] = []
        for topic in wanted:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass  # another service provisioned it first
            except KafkaError as exc:
                if "TopicAlreadyExists" not in repr(exc):
                    raise
        if created:
            log.info("topics_created", topics=created)
        return created
    finally:
        admin.close()
