"""Wires the membership service: handlers, sealing via the keyring, gRPC."""

from __future__ import annotations

from pathlib import Path

import grpc
from membership.v1 import membership_pb2_grpc

from services.common.grpc.auth import (
    SCOPE_ADMIN,
    SCOPE_INTERNAL,
    SCOPE_MEMBERS_READ,
    SCOPE_MEMBERS_WRITE,
    SCOPE_ORG_ADMIN,
    Authenticator,
    data_subject_policy,
)
from services.common.grpc.client import ServiceClient
from services.common.grpc.data_subject import DATA_SUBJECT_SERVICE, add_data_subject_store
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
from services.common.sealing import Sealer, SubjectReservations
from services.common.topics import DUNNING_EXHAUSTED, PAYMENT_SUCCEEDED
from services.membership.adapters.privacy_requests import PrivacyRequestsClient
from services.membership.adapters.repository import Repository
from services.membership.config import MembershipSettings
from services.membership.domain.privacy_links import PrivacyLinks
from services.membership.entrypoints.grpc_api import (
    InternalDirectoryServicer,
    MembershipServicer,
)
from services.membership.entrypoints.privacy_page import PrivacyPage, add_privacy_routes
from services.membership.metrics import RETENTION
from services.membership.service_layer.api_keys import ApiKeyHandlers
from services.membership.service_layer.handlers import MembershipHandlers
from services.membership.service_layer.lifecycle import MemberLifecycle
from services.membership.service_layer.logins import LoginLog
from services.membership.service_layer.members import MemberRights
from services.membership.service_layer.privacy_links import PrivacySelfService
from services.membership.service_layer.retention import MembershipRetention
from services.membership.service_layer.subject_store import MemberSubjectStore

MIGRATIONS = Path(__file__).parent / "migrations"
API = "/membership.v1.MembershipService/"
DIRECTORY = "/membership.v1.InternalDirectory/"

# Which scope each method needs; a method missing here is denied (test_rpc_guards checks).
METHODS_BY_SCOPE = {
    SCOPE_ADMIN: ("CreateOrg",),
    SCOPE_MEMBERS_READ: (
        "GetMember",
        "ListMembers",
        "ListLogins",
        "GetOrg",
        "ListPolicies",
        "GetForm",
        "ListForms",
        "ListConsents",
        "ListMembershipTypes",
    ),
    SCOPE_MEMBERS_WRITE: (
        "RegisterMember",
        "UpdateMember",
        "CancelMembership",
        "SetRestriction",
        "SetObjection",
        "RecordLogin",
        "AcceptPolicy",
        "SetConsent",
    ),
    SCOPE_ORG_ADMIN: (
        "UpdateOrg",
        "PublishPolicy",
        "PublishForm",
        "CreateMembershipType",
        "CreateApiKey",
        "ListApiKeys",
        "RevokeApiKey",
        "RotateApiKey",
        "ListAuditEntries",
    ),
}
POLICY = {
    **{
        f"{API}{method}": frozenset({scope})
        for scope, methods in METHODS_BY_SCOPE.items()
        for method in methods
    },
    # The erasure service applies verified restriction and objection requests (naming the org).
    **{
        f"{API}{method}": frozenset({SCOPE_MEMBERS_WRITE, SCOPE_INTERNAL})
        for method in ("SetRestriction", "SetObjection")
    },
    **{
        f"{DIRECTORY}{method}": frozenset({SCOPE_INTERNAL})
        for method in (
            "IntrospectApiKey",
            "GetContact",
            "GetContacts",
            "GetConsents",
            "WithdrawConsent",
            "GetPrivacyLink",
            "ListOrgContacts",
            # The erasure ledger's replay only.
            "RestoreErasedAddresses",
        )
    },
    **data_subject_policy(),
    # The erasure service's ledger replay lists member ids to match them against the ledger.
    **SUBJECT_INDEX_POLICY,
}


def bootstrap(settings: MembershipSettings) -> Runtime:
    runtime = Runtime(settings, MIGRATIONS)
    token = settings.internal_token.get_secret_value()
    keyring = ServiceClient(
        "keyring", settings.keyring_addr, token, runtime.metrics, settings.rpc_deadline_s
    )
    sealer = Sealer(keyring, settings.key_cache_ttl_s)
    handlers = MembershipHandlers(
        runtime.database,
        sealer,
        SubjectReservations(keyring, sealer),
        settings.blind_index_key.get_secret_value().encode(),
        runtime.relay,
        settings.default_language,
    )

    authenticator = Authenticator(
        token, handlers.introspect, admin_token=settings.admin_token.get_secret_value()
    )
    keys = ApiKeyHandlers(runtime.database, on_revoked=authenticator.forget_key)

    # The status lifecycle: billing's events, and a sweep for the passing of time.
    lifecycle = MemberLifecycle(runtime.database, on_committed=runtime.relay.wake)
    runtime.consume(
        "membership.payment-succeeded", PAYMENT_SUCCEEDED, lifecycle.on_payment_succeeded
    )
    runtime.consume(
        "membership.dunning-exhausted", DUNNING_EXHAUSTED, lifecycle.on_dunning_exhausted
    )
    runtime.every("status-sweep", settings.status_sweep_interval_s, lifecycle.sweep)
    # The keyring's address is the erasure service's: profiles and requests live there too.
    erasure = ServiceClient(
        "erasure", settings.keyring_addr, token, runtime.metrics, settings.rpc_deadline_s
    )
    runtime.on_stop(erasure.close)
    requests = PrivacyRequestsClient(erasure)
    retention = RetentionSweeps(
        "membership",
        ErasureProfiles(erasure),
        MembershipRetention(runtime.database, sealer, requests).sweep_org,
        RETENTION,
    )
    add_retention_sweeps(runtime, retention, settings.retention_interval_s)

    store = MemberSubjectStore(handlers, runtime.database, sealer)
    privacy = _privacy_page(settings, runtime, handlers, store, requests)

    def add_servicers(server: grpc.aio.Server) -> None:
        membership_pb2_grpc.add_MembershipServiceServicer_to_server(
            MembershipServicer(handlers, keys, MemberRights(handlers), LoginLog(handlers)), server
        )
        membership_pb2_grpc.add_InternalDirectoryServicer_to_server(
            InternalDirectoryServicer(handlers, privacy), server
        )
        add_data_subject_store(server, "membership", store)
        add_subject_index(
            server,
            runtime.database,
            lambda session, *page: Repository(session).member_ids_after(*page),
        )

    runtime.serve_grpc(
        add_servicers,
        [
            "membership.v1.MembershipService",
            "membership.v1.InternalDirectory",
            DATA_SUBJECT_SERVICE,
            SUBJECT_INDEX_SERVICE,
        ],
        POLICY,
        authenticator,
    )
    return runtime


def _privacy_page(
    settings: MembershipSettings,
    runtime: Runtime,
    handlers: MembershipHandlers,
    store: MemberSubjectStore,
    requests: PrivacyRequestsClient,
) -> PrivacySelfService:
    """The member's privacy page (HTTP) and what notify asks for its emailed link."""
    key = settings.privacy_link_key.get_secret_value()
    if not key:
        raise SystemExit("PRIVACY_LINK_KEY is required: it signs the privacy page's links")
    privacy = PrivacySelfService(
        handlers,
        store,
        PrivacyLinks(key, settings.public_base_url, settings.privacy_link_ttl_s),
        requests,
        settings.privacy_link_resend_s,
    )
    add_privacy_routes(runtime.app, runtime.metrics, PrivacyPage(privacy))
    return privacy
