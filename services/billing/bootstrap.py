"""Wires the billing service: the member-registered consumer, DataSubjectStore, gRPC."""

from __future__ import annotations

from pathlib import Path

import grpc
from billing.v1 import billing_pb2_grpc

from services.billing.adapters.repository import Repository
from services.billing.adapters.stripe_gateway import StripeConfig, make_gateway
from services.billing.config import BillingSettings
from services.billing.entrypoints.grpc_api import BillingServicer
from services.billing.entrypoints.webhook import StripeWebhook, add_webhook_route
from services.billing.metrics import RETENTION
from services.billing.service_layer.billing_api import BillingApi
from services.billing.service_layer.dunning import Dunning
from services.billing.service_layer.invoicing import DefaultFee, Invoicing
from services.billing.service_layer.payments import Payments
from services.billing.service_layer.renewals import Renewals
from services.billing.service_layer.retention_profiles import BillingRetention
from services.billing.service_layer.stripe_customers import MembershipContacts
from services.billing.service_layer.subject_store import InvoiceSubjectStore
from services.common.grpc.auth import (
    SCOPE_MEMBERS_READ,
    SCOPE_MEMBERS_WRITE,
    SCOPE_ORG_ADMIN,
    Authenticator,
    data_subject_policy,
)
from services.common.grpc.client import ServiceClient
from services.common.grpc.data_subject import DATA_SUBJECT_SERVICE, add_data_subject_store
from services.common.grpc.directory import remote_api_key_resolver
from services.common.grpc.subject_index import (
    SUBJECT_INDEX_POLICY,
    SUBJECT_INDEX_SERVICE,
    add_subject_index,
)
from services.common.retention_sweep import ErasureProfiles, add_retention_sweeps
from services.common.runtime import Runtime
from services.common.topics import MEMBER_REGISTERED, MEMBER_STATUS_CHANGED

MIGRATIONS = Path(__file__).parent / "migrations"
API = "/billing.v1.BillingService/"

# Which scope each method needs; a method missing here is denied (test_billing_api checks).
METHODS_BY_SCOPE = {
    SCOPE_ORG_ADMIN: ("SetFeePlan", "SetBillingPolicy", "VoidInvoice", "RefundInvoice"),
    SCOPE_MEMBERS_READ: (
        "GetBillingPolicy",
        "ListFeePlans",
        "GetInvoice",
        "ListInvoices",
        "ListLedger",
        "GetBalance",
    ),
    SCOPE_MEMBERS_WRITE: ("CreatePayment",),
}
POLICY = {
    **{
        f"{API}{method}": frozenset({scope})
        for scope, methods in METHODS_BY_SCOPE.items()
        for method in methods
    },
    **data_subject_policy(),
    # The erasure service's ledger replay finds the members a restored billing holds.
    **SUBJECT_INDEX_POLICY,
}


def bootstrap(settings: BillingSettings) -> Runtime:
    runtime = Runtime(settings, MIGRATIONS)
    token = settings.internal_token.get_secret_value()
    membership = ServiceClient(
        "membership", settings.membership_addr, token, runtime.metrics, settings.rpc_deadline_s
    )
    invoicing = Invoicing(
        DefaultFee(settings.default_fee_ore, settings.currency, settings.due_days)
    )
    runtime.consume("billing.member-registered", MEMBER_REGISTERED, invoicing.on_member_registered)
    runtime.consume(
        "billing.member-status-changed", MEMBER_STATUS_CHANGED, invoicing.on_member_status_changed
    )
    dunning = Dunning(runtime.database, on_committed=runtime.relay.wake)
    renewals = Renewals(
        runtime.database, invoicing, settings.renewal_lead_days, on_committed=runtime.relay.wake
    )
    runtime.every("billing.dunning", settings.dunning_interval_s, dunning.run)
    runtime.every("billing.renewals", settings.renewal_interval_s, renewals.run)
    payments = _payments(settings, runtime, membership)
    # The keyring's address is the erasure service's, where the orgs' profiles are.
    erasure = ServiceClient(
        "erasure", settings.keyring_addr, token, runtime.metrics, settings.rpc_deadline_s
    )
    runtime.on_stop(erasure.close)
    retention = BillingRetention(runtime.database, ErasureProfiles(erasure), payments, RETENTION)
    add_retention_sweeps(runtime, retention.sweeps, settings.retention_interval_s, retention.run)
    store = InvoiceSubjectStore(
        runtime.database,
        settings.pseudonym_key.get_secret_value().encode(),
        stripe_customers=payments,
    )

    def add_servicers(server: grpc.aio.Server) -> None:
        billing_pb2_grpc.add_BillingServiceServicer_to_server(
            BillingServicer(BillingApi(runtime.database, payments), payments), server
        )
        add_data_subject_store(server, "billing", store)
        add_subject_index(
            server,
            runtime.database,
            lambda session, *page: Repository(session).member_refs_after(*page),
        )

    runtime.serve_grpc(
        add_servicers,
        ["billing.v1.BillingService", DATA_SUBJECT_SERVICE, SUBJECT_INDEX_SERVICE],
        POLICY,
        Authenticator(token, remote_api_key_resolver(membership)),
    )
    return runtime


def _payments(settings: BillingSettings, runtime: Runtime, membership: ServiceClient) -> Payments:
    """Stripe: the gateway for the configured flow, the webhook route, the event loop (woken by
    each stored event, with a periodic pass for leftovers) and reconciliation."""
    gateway = make_gateway(
        settings.stripe_payment_flow,
        StripeConfig(
            api_key=settings.stripe_api_key.get_secret_value(),
            api_base=settings.stripe_api_base,
            requests_per_s=settings.stripe_requests_per_s,
            max_network_retries=settings.stripe_max_network_retries,
            request_timeout_s=settings.stripe_request_timeout_s,
            deadline_s=settings.stripe_deadline_s,
            success_url=settings.stripe_checkout_success_url,
            cancel_url=settings.stripe_checkout_cancel_url,
        ),
    )
    runtime.on_stop(gateway.close)
    payments = Payments(
        runtime.database,
        gateway,
        MembershipContacts(membership),
        after_commit=runtime.relay.wake,
        events_interval_s=settings.stripe_events_interval_s,
        reconcile_window_s=settings.stripe_reconcile_window_s,
    )
    webhook = StripeWebhook(
        runtime.database,
        [s.get_secret_value() for s in settings.stripe_webhook_secrets],
        tolerance_s=settings.stripe_webhook_tolerance_s,
        max_body_bytes=settings.stripe_webhook_max_body_bytes,
        on_stored=payments.wake,
    )
    add_webhook_route(runtime.app, runtime.metrics, webhook)
    # Back to back: each pass waits for a wake-up or the interval, whichever comes first.
    runtime.every("billing.stripe-events", 0.0, payments.next_event_pass)
    runtime.every(
        "billing.stripe-reconcile", settings.stripe_reconcile_interval_s, payments.reconcile
    )
    return payments
