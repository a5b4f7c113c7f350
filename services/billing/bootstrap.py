"""Wires the billing service: the member-registered consumer, DataSubjectStore, gRPC."""

from __future__ import annotations

from pathlib import Path

from services.billing.config import BillingSettings
from services.billing.service_layer.invoicing import DefaultFee, Invoicing
from services.billing.service_layer.subject_store import InvoiceSubjectStore
from services.common.grpc.auth import Authenticator, data_subject_policy
from services.common.grpc.client import ServiceClient
from services.common.grpc.data_subject import DATA_SUBJECT_SERVICE, add_data_subject_store
from services.common.grpc.directory import remote_api_key_resolver
from services.common.runtime import Runtime
from services.common.topics import MEMBER_REGISTERED, MEMBER_STATUS_CHANGED

MIGRATIONS = Path(__file__).parent / "migrations"


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
    store = InvoiceSubjectStore(
        runtime.database, settings.pseudonym_key.get_secret_value().encode()
    )

    runtime.serve_grpc(
        lambda server: add_data_subject_store(server, "billing", store),
        [DATA_SUBJECT_SERVICE],
        data_subject_policy(),
        Authenticator(token, remote_api_key_resolver(membership)),
    )
    return runtime
