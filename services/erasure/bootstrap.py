"""Wires the erasure service: keyring, its DataSubjectStore, data-subject requests, the
erasure pipeline (planner consumer, runner, gauges), the restriction/objection runner, the
access/portability exports (runner, download link, sweep), gRPC."""

from __future__ import annotations

from pathlib import Path

import grpc
from privacy.v1 import (
    keyring_pb2_grpc,
    ledger_pb2_grpc,
    requests_pb2_grpc,
    retention_pb2_grpc,
    subprocessors_pb2_grpc,
)

from services.common.grpc.auth import (
    SCOPE_ADMIN,
    SCOPE_INTERNAL,
    SCOPE_ORG_ADMIN,
    SCOPE_PRIVACY,
    Authenticator,
    data_subject_policy,
)
from services.common.grpc.client import ServiceClient
from services.common.grpc.data_subject import DATA_SUBJECT_SERVICE, add_data_subject_store
from services.common.grpc.directory import remote_api_key_resolver
from services.common.runtime import Runtime
from services.common.topics import ERASURE_REQUESTED
from services.erasure.adapters.key_store import KeyStore
from services.erasure.adapters.membership_contacts import MembershipContacts
from services.erasure.adapters.membership_flags import MembershipFlags
from services.erasure.adapters.retention_files import builtin_profile_files
from services.erasure.adapters.store_exports import StoreExports
from services.erasure.adapters.targets.sendgrid_recipient import (
    SendGridConfig,
    SendGridRecipientTarget,
)
from services.erasure.adapters.targets.twilio_messages import TwilioConfig, TwilioMessagesTarget
from services.erasure.config import ErasureSettings
from services.erasure.domain.export_links import ExportLinks
from services.erasure.domain.requests import EXPORT_TARGET, MEMBERSHIP_TARGETS
from services.erasure.entrypoints.export_page import add_export_routes
from services.erasure.entrypoints.grpc_keyring import KeyringServicer
from services.erasure.entrypoints.grpc_ledger import ErasureLedgerServicer
from services.erasure.entrypoints.grpc_requests import PrivacyRequestsServicer
from services.erasure.entrypoints.grpc_retention import RetentionServicer
from services.erasure.entrypoints.grpc_subprocessors import SubprocessorsServicer
from services.erasure.registry import erasure_targets
from services.erasure.service_layer.erasure_runner import ErasureRunner
from services.erasure.service_layer.exports import ExportDownloads, ExportRunner, sweep_expired
from services.erasure.service_layer.key_shredding import KeyShredding
from services.erasure.service_layer.keyring import Keyring
from services.erasure.service_layer.membership_requests import MembershipRequestRunner
from services.erasure.service_layer.planning import ErasurePlanner
from services.erasure.service_layer.replay import LedgerReplay
from services.erasure.service_layer.request_metrics import RequestMetrics
from services.erasure.service_layer.requests import PrivacyRequests, seal_free_text
from services.erasure.service_layer.retention_profiles import RetentionProfiles
from services.erasure.service_layer.subject_store import KeyringSubjectStore
from services.erasure.service_layer.subprocessor_changes import record_subprocessor_version
from services.erasure.subprocessors import load_subprocessors

MIGRATIONS = Path(__file__).parent / "migrations"
INTERNAL = frozenset({SCOPE_INTERNAL})
PRIVACY = frozenset({SCOPE_PRIVACY})
REQUEST_METHODS = (
    "FileRequest",
    "GetRequest",
    "ListRequests",
    "VerifyIdentity",
    "ExtendDeadline",
    "GetCertificate",
)


def bootstrap(settings: ErasureSettings) -> Runtime:
    runtime = Runtime(settings, MIGRATIONS)
    keyring = Keyring(
        KeyStore(runtime.database),
        settings.kek_bytes,
        settings.ledger_key.get_secret_value().encode(),
    )
    token = settings.internal_token.get_secret_value()
    stores = {
        name: ServiceClient(name, addr, token, runtime.metrics, settings.rpc_deadline_s)
        for name, addr in (
            ("membership", settings.membership_addr),
            ("billing", settings.billing_addr),
            ("notify", settings.notify_addr),
        )
    }
    _erasure_pipeline(settings, runtime, keyring, stores)
    rights = MembershipRequestRunner(
        runtime.database,
        MembershipFlags(stores["membership"]),
        backoff_base_s=settings.erasure_backoff_base_s,
        backoff_cap_s=settings.erasure_backoff_cap_s,
        deadline_s=settings.erasure_target_deadline_s,
        idle_s=settings.erasure_poll_s,
    )
    runtime.every("erasure.rights-runner", 0.0, rights.next_pass)
    exports = _exports(settings, runtime, keyring, stores)

    def committed() -> None:
        runtime.relay.wake()
        rights.wake()  # a verified restriction or objection is applied at once
        exports.wake()  # and an access or portability archive made at once

    requests = PrivacyRequests(
        runtime.database,
        keyring,
        MembershipContacts(stores["membership"]),
        on_committed=committed,
    )
    # Requests from before the free text was sealed: sealed once the service is up (finds
    # nothing after that first pass).
    runtime.every(
        "erasure.seal-free-text", 3600.0, lambda: seal_free_text(runtime.database, keyring)
    )
    registry_file = load_subprocessors()
    subprocessors = SubprocessorsServicer(registry_file)
    # At start (and hourly after, which finds the version recorded): a new registry version
    # is announced once.
    runtime.every(
        "erasure.subprocessor-version",
        3600.0,
        lambda: record_subprocessor_version(runtime.database, registry_file),
    )
    retention = RetentionServicer(RetentionProfiles(runtime.database, builtin_profile_files()))

    def add_servicers(server: grpc.aio.Server) -> None:
        keyring_pb2_grpc.add_KeyringServicer_to_server(KeyringServicer(keyring), server)
        requests_pb2_grpc.add_PrivacyRequestsServicer_to_server(
            PrivacyRequestsServicer(requests), server
        )
        subprocessors_pb2_grpc.add_SubprocessorsServicer_to_server(subprocessors, server)
        retention_pb2_grpc.add_RetentionServicer_to_server(retention, server)
        add_data_subject_store(server, "erasure", KeyringSubjectStore(keyring))
        ledger_pb2_grpc.add_ErasureLedgerServicer_to_server(
            ErasureLedgerServicer(
                LedgerReplay(runtime.database, keyring, stores, list(stores.values()))
            ),
            server,
        )

    policy = {
        **{
            f"/privacy.v1.Keyring/{m}": INTERNAL
            for m in ("GetOrCreateKey", "GetKey", "GetKeys", "ReserveKeys")
        },
        # Not an org's: a key shredded outside a request would block the request in flight.
        "/privacy.v1.Keyring/ShredKey": INTERNAL,
        **{f"/privacy.v1.PrivacyRequests/{m}": PRIVACY for m in REQUEST_METHODS},
        # Membership's privacy page files and verifies a member's own requests (the signed
        # email link is the identity check), naming the org.
        **{
            f"/privacy.v1.PrivacyRequests/{m}": frozenset({SCOPE_PRIVACY, SCOPE_INTERNAL})
            for m in ("FileRequest", "VerifyIdentity")
        },
        # Notify reads it to tell every org of a change (privacy.subprocessors-changed.v1).
        "/privacy.v1.Subprocessors/ListSubprocessors": frozenset(
            {SCOPE_PRIVACY, SCOPE_ORG_ADMIN, SCOPE_INTERNAL}
        ),
        **{
            f"/privacy.v1.Retention/{m}": frozenset({SCOPE_PRIVACY, SCOPE_ORG_ADMIN})
            for m in ("LoadProfile", "GetProfile", "ListProfiles")
        },
        # The services' retention sweeps read every org's profile.
        "/privacy.v1.Retention/ListActiveProfiles": INTERNAL,
        **data_subject_policy(),
        # Re-applies every org's erasures after a restore: the platform's operators only.
        "/privacy.v1.ErasureLedger/Replay": frozenset({SCOPE_ADMIN}),
    }
    runtime.serve_grpc(
        add_servicers,
        [
            "privacy.v1.Keyring",
            "privacy.v1.PrivacyRequests",
            "privacy.v1.Subprocessors",
            "privacy.v1.Retention",
            DATA_SUBJECT_SERVICE,
            "privacy.v1.ErasureLedger",
        ],
        policy,
        Authenticator(
            token,
            remote_api_key_resolver(stores["membership"]),
            admin_token=settings.admin_token.get_secret_value(),
        ),
    )
    return runtime


def _erasure_pipeline(
    settings: ErasureSettings,
    runtime: Runtime,
    keyring: Keyring,
    stores: dict[str, ServiceClient],
) -> None:
    """The registry of targets, the planner on privacy.erasure-requested.v1, the runner (woken
    by each plan) and the request gauges."""
    twilio = TwilioMessagesTarget(
        TwilioConfig(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            settings.twilio_base_url,
            settings.provider_timeout_s,
        )
    )
    runtime.on_stop(twilio.close)
    registry = erasure_targets(
        stores,
        SendGridRecipientTarget(
            SendGridConfig(
                settings.sendgrid_api_key.get_secret_value(),
                settings.sendgrid_base_url,
                settings.provider_timeout_s,
            )
        ),
        twilio,
        KeyShredding(keyring),
        runtime.database,
    )
    runner = ErasureRunner(
        runtime.database,
        registry,
        keyring,
        backoff_base_s=settings.erasure_backoff_base_s,
        backoff_cap_s=settings.erasure_backoff_cap_s,
        confirm_poll_base_s=settings.erasure_confirm_poll_base_s,
        deadline_s=settings.erasure_target_deadline_s,
        idle_s=settings.erasure_poll_s,
        on_committed=runtime.relay.wake,
    )
    planner = ErasurePlanner(registry)
    runtime.consume("erasure.erasure-requested", ERASURE_REQUESTED, planner.on_erasure_requested)
    # At start, and again later: during a rolling deploy an older replica may still plan
    # without the new target.
    runtime.every(
        "erasure.plan-backfill", 600.0, lambda: planner.add_missing_tasks(runtime.database)
    )
    runtime.on_commit(runner.wake)
    # Back to back: each pass waits for a wake-up or the poll interval when idle.
    runtime.every("erasure.runner", 0.0, runner.next_pass)
    runtime.every(
        "erasure.request-metrics",
        settings.request_metrics_interval_s,
        # The restriction, objection and export tasks too: a stuck one is as much a missed
        # deadline.
        RequestMetrics(
            runtime.database, [*registry.order, *MEMBERSHIP_TARGETS.values(), EXPORT_TARGET]
        ).refresh,
    )
    for client in stores.values():
        runtime.on_stop(client.close)
    # Registered last, so run first: the requests in flight finish before the clients close.
    runtime.on_stop(runner.stop)


def _exports(
    settings: ErasureSettings,
    runtime: Runtime,
    keyring: Keyring,
    stores: dict[str, ServiceClient],
) -> ExportRunner:
    """The runner that makes access and portability archives, the one-time download route
    and the sweep that empties archives whose link expired."""
    key = settings.export_link_key.get_secret_value()
    if not key:
        raise SystemExit("EXPORT_LINK_KEY is required: it signs the export download links")
    links = ExportLinks(key, settings.public_base_url, settings.export_link_ttl_s)
    runner = ExportRunner(
        runtime.database,
        StoreExports(stores, KeyringSubjectStore(keyring)),
        keyring,
        links,
        backoff_base_s=settings.erasure_backoff_base_s,
        backoff_cap_s=settings.erasure_backoff_cap_s,
        deadline_s=settings.erasure_target_deadline_s,
        idle_s=settings.erasure_poll_s,
        on_committed=runtime.relay.wake,
    )
    runtime.every("erasure.export-runner", 0.0, runner.next_pass)
    runtime.every(
        "erasure.export-sweep",
        settings.export_sweep_interval_s,
        lambda: sweep_expired(runtime.database),
    )
    add_export_routes(
        runtime.app, runtime.metrics, ExportDownloads(runtime.database, keyring, links)
    )
    return runner
