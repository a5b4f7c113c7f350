"""Wires the notify service: the welcome consumer, email sender, DataSubjectStore, gRPC."""

from __future__ import annotations

from pathlib import Path

from services.common.grpc.auth import Authenticator, data_subject_policy
from services.common.grpc.client import ServiceClient
from services.common.grpc.data_subject import DATA_SUBJECT_SERVICE, add_data_subject_store
from services.common.grpc.directory import remote_api_key_resolver
from services.common.runtime import Runtime
from services.common.sealing import Sealer
from services.common.topics import MEMBER_REGISTERED
from services.notify.adapters.email_sandbox import SandboxEmailSender
from services.notify.config import NotifySettings
from services.notify.service_layer.handlers import NotifyHandlers
from services.notify.service_layer.subject_store import MessageSubjectStore

MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: NotifySettings) -> Runtime:
    if settings.email_mode != "sandbox":
        raise SystemExit(f"EMAIL_MODE={settings.email_mode!r}: only 'sandbox' exists so far")
    runtime = Runtime(settings, MIGRATIONS)
    token = settings.internal_token.get_secret_value()
    membership = ServiceClient(
        "membership", settings.membership_addr, token, runtime.metrics, settings.rpc_deadline_s
    )
    keyring = ServiceClient(
        "keyring", settings.keyring_addr, token, runtime.metrics, settings.rpc_deadline_s
    )
    sealer = Sealer(keyring, settings.key_cache_ttl_s)
    email = SandboxEmailSender(settings.sandbox_path, settings.from_email)
    handlers = NotifyHandlers(membership, sealer, email)
    runtime.consume(
        "notify.member-registered",
        MEMBER_REGISTERED,
        handlers.on_member_registered,
        prefetch=handlers.prefetch,
    )
    store = MessageSubjectStore(runtime.database, sealer, email)

    runtime.serve_grpc(
        lambda server: add_data_subject_store(server, "notify", store),
        [DATA_SUBJECT_SERVICE],
        data_subject_policy(),
        Authenticator(token, remote_api_key_resolver(membership)),
    )
    return runtime
