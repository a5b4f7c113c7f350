"""Wires the erasure service: keyring, its DataSubjectStore, gRPC."""

from __future__ import annotations

from pathlib import Path

import grpc
from privacy.v1 import keyring_pb2_grpc

from services.common.grpc.auth import (
    SCOPE_INTERNAL,
    SCOPE_PRIVACY,
    Authenticator,
    data_subject_policy,
)
from services.common.grpc.client import ServiceClient
from services.common.grpc.data_subject import DATA_SUBJECT_SERVICE, add_data_subject_store
from services.common.grpc.directory import remote_api_key_resolver
from services.common.runtime import Runtime
from services.erasure.adapters.key_store import KeyStore
from services.erasure.config import ErasureSettings
from services.erasure.entrypoints.grpc_keyring import KeyringServicer
from services.erasure.service_layer.keyring import Keyring
from services.erasure.service_layer.subject_store import KeyringSubjectStore

MIGRATIONS = Path(__file__).parent / "migrations"
INTERNAL = frozenset({SCOPE_INTERNAL})


def bootstrap(settings: ErasureSettings) -> Runtime:
    runtime = Runtime(settings, MIGRATIONS)
    keyring = Keyring(KeyStore(runtime.database), settings.kek_bytes)
    token = settings.internal_token.get_secret_value()
    membership = ServiceClient(
        "membership", settings.membership_addr, token, runtime.metrics, settings.rpc_deadline_s
    )

    def add_servicers(server: grpc.aio.Server) -> None:
        keyring_pb2_grpc.add_KeyringServicer_to_server(KeyringServicer(keyring), server)
        add_data_subject_store(server, "erasure", KeyringSubjectStore(keyring))

    policy = {
        **{
            f"/privacy.v1.Keyring/{m}": INTERNAL
            for m in ("GetOrCreateKey", "GetKey", "GetKeys", "ReserveKeys")
        },
        # An org admin with the privacy scope completes an erasure by shredding the key.
        "/privacy.v1.Keyring/ShredKey": frozenset({SCOPE_INTERNAL, SCOPE_PRIVACY}),
        **data_subject_policy(),
    }
    runtime.serve_grpc(
        add_servicers,
        ["privacy.v1.Keyring", DATA_SUBJECT_SERVICE],
        policy,
        Authenticator(token, remote_api_key_resolver(membership)),
    )
    return runtime
