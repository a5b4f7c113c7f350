"""Wires the notify service: the welcome consumer, email sender, DataSubjectStore, gRPC."""

from __future__ import annotations

from pathlib import Path

import grpc

from services.common.grpc.auth import Authenticator, data_subject_policy
from services.common.grpc.client import ServiceClient
from services.common.grpc.data_subject import DATA_SUBJECT_SERVICE, add_data_subject_store
from services.common.grpc.directory import remote_api_key_resolver
from services.common.grpc.subject_index import (
    SUBJECT_INDEX_POLICY,
    SUBJECT_INDEX_SERVICE,
    add_subject_index,
)
from services.common.retention_sweep import (
    ErasureProfiles,
    RetentionSweeps,
    add_retention_sweeps,
)
from services.common.runtime import Runtime
from services.common.sealing import Sealer
from services.common.topics import MEMBER_STATUS_CHANGED, SUBPROCESSORS_CHANGED
from services.notify.adapters.email_sandbox import SandboxEmailSender
from services.notify.adapters.membership_directory import Directory
from services.notify.adapters.repository import Repository
from services.notify.adapters.sms_sandbox import SandboxSms
from services.notify.adapters.subprocessor_registry import ErasureSubprocessors
from services.notify.adapters.twilio_sms import TwilioSms
from services.notify.config import NotifySettings
from services.notify.dispatching import add_dispatcher
from services.notify.domain.content import EMAIL, SMS
from services.notify.entrypoints.grpc_erasure_confirmation import (
    ERASURE_CONFIRMATIONS_SERVICE,
)
from services.notify.entrypoints.grpc_erasure_confirmation import (
    POLICY as ERASURE_CONFIRMATIONS_POLICY,
)
from services.notify.entrypoints.webhooks import (
    SendGridEvents,
    TwilioCallbacks,
    add_webhook_routes,
)
from services.notify.messaging import NOTIFY_SERVICE, add_messaging
from services.notify.messaging import POLICY as NOTIFY_POLICY
from services.notify.metrics import RETENTION
from services.notify.service_layer.delivery_status import DeliveryStatus, membership_withdrawer
from services.notify.service_layer.dispatch import EmailProvider
from services.notify.service_layer.org_notices import OrgNotices
from services.notify.service_layer.retention import NotifyRetention, on_status_changed
from services.notify.service_layer.subject_store import MessageSubjectStore, ProviderCopies

MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: NotifySettings) -> Runtime:
    runtime = Runtime(settings, MIGRATIONS)
    token = settings.internal_token.get_secret_value()
    membership = ServiceClient(
        "membership", settings.membership_addr, token, runtime.metrics, settings.rpc_deadline_s
    )
    keyring = ServiceClient(
        "keyring", settings.keyring_addr, token, runtime.metrics, settings.rpc_deadline_s
    )
    sealer = Sealer(keyring, settings.key_cache_ttl_s)
    # The sandbox's files, one per message and channel, which erasure deletes (real providers'
    # copies are deleted through their APIs by the erasure service).
    sandbox_copies: dict[str, ProviderCopies] = {
        EMAIL: SandboxEmailSender(settings.sandbox_path, settings.from_email),
        SMS: SandboxSms(settings.sandbox_path, settings.twilio_from, settings.public_base_url),
    }
    # Sends every QUEUED message row (email and SMS), whoever queued it.
    dispatcher = add_dispatcher(runtime, settings, sealer, membership)
    # Every message is queued (a QUEUED row) by the consumers, the org API and the erasure
    # pipeline's confirmation here.
    add_notify_api = add_messaging(runtime, settings, sealer, membership, dispatcher.wake)
    store = MessageSubjectStore(
        runtime.database,
        sealer,
        sandbox_copies,
        suppression_key=settings.suppression_key.get_secret_value().encode(),
    )
    add_delivery_webhooks(runtime, settings, membership)
    add_org_notices(runtime, settings, membership, keyring, dispatcher.email)
    # The keyring's address is the erasure service's, where the orgs' profiles are.
    retention = RetentionSweeps(
        "notify",
        ErasureProfiles(keyring),
        NotifyRetention(
            runtime.database,
            Directory(membership),
            sandbox_copies,
            [dispatcher.sms] if isinstance(dispatcher.sms, TwilioSms) else [],
        ).sweep_org,
        RETENTION,
    )
    add_retention_sweeps(runtime, retention, settings.retention_interval_s)
    runtime.consume("notify.relationship-ends", MEMBER_STATUS_CHANGED, on_status_changed)

    def add_servicers(server: grpc.aio.Server) -> None:
        add_notify_api(server)
        add_data_subject_store(server, "notify", store)
        add_subject_index(
            server,
            runtime.database,
            lambda session, *page: Repository(session).member_ids_after(*page),
        )

    runtime.serve_grpc(
        add_servicers,
        [
            NOTIFY_SERVICE,
            DATA_SUBJECT_SERVICE,
            ERASURE_CONFIRMATIONS_SERVICE,
            SUBJECT_INDEX_SERVICE,
        ],
        {
            **NOTIFY_POLICY,
            **data_subject_policy(),
            **ERASURE_CONFIRMATIONS_POLICY,
            **SUBJECT_INDEX_POLICY,
        },
        Authenticator(token, remote_api_key_resolver(membership)),
    )
    return runtime


def add_org_notices(
    runtime: Runtime,
    settings: NotifySettings,
    membership: ServiceClient,
    erasure: ServiceClient,
    email: EmailProvider,
) -> None:
    """Tells every org's contact when the sub-processor list changes (not member messages:
    service_layer/org_notices.py), through the dispatcher's email provider."""
    notices = OrgNotices(
        runtime.database,
        Directory(membership),
        ErasureSubprocessors(erasure),
        email,
        max_attempts=settings.dispatch_max_attempts,
        retry_s=settings.org_notice_retry_s,
    )
    runtime.consume(
        "notify.subprocessors-changed", SUBPROCESSORS_CHANGED, notices.on_subprocessors_changed
    )
    runtime.on_commit(notices.committed)
    runtime.every("notify.org-notices", 0.0, notices.round)


def add_delivery_webhooks(
    runtime: Runtime, settings: NotifySettings, membership: ServiceClient
) -> None:
    """POST /sendgrid/events, /twilio/status and /twilio/inbound."""
    key = settings.suppression_key.get_secret_value()
    if not key:
        raise SystemExit("SUPPRESSION_KEY is required: it keys the suppression list's hashes")
    delivery = DeliveryStatus(runtime.database, membership_withdrawer(membership), key.encode())
    sendgrid = SendGridEvents(
        delivery,
        settings.sendgrid_webhook_public_key,
        tolerance_s=settings.sendgrid_webhook_tolerance_s,
        max_body_bytes=settings.webhook_max_body_bytes,
    )
    twilio = TwilioCallbacks(
        delivery,
        settings.twilio_auth_token.get_secret_value(),
        settings.public_base_url,
        max_body_bytes=settings.webhook_max_body_bytes,
    )
    add_webhook_routes(runtime.app, runtime.metrics, sendgrid, twilio)
