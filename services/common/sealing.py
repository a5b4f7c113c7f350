"""PII sealing: personal fields at rest are AES-GCM ciphertext under the subject's data key.

The keys live in the keyring (the erasure service); this side fetches them over gRPC and
caches them briefly. Once a key is shredded, every sealed copy (database, backup, log)
is unreadable. A blind index (keyed HMAC of a normalised value) allows equality lookups
without storing the plaintext.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections import OrderedDict

import grpc
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from privacy.v1 import keyring_pb2, keyring_pb2_grpc

from services.common.errors import FailedPrecondition
from services.common.grpc.client import ServiceClient

FORMAT_V1 = b"\x01"
NONCE_BYTES = 12


class SubjectForgotten(FailedPrecondition):
    """The subject's key was shredded: their sealed data can never be read again."""


def seal_with(key: bytes, subject_id: str, field: str, plaintext: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    aad = f"{subject_id}:{field}".encode()
    return FORMAT_V1 + nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), aad)


def unseal_with(key: bytes, subject_id: str, field: str, sealed: bytes) -> str:
    if sealed[:1] != FORMAT_V1:
        raise ValueError("unknown sealed format")
    nonce, ciphertext = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    aad = f"{subject_id}:{field}".encode()
    return AESGCM(key).decrypt(nonce, ciphertext, aad).decode()


def blind_index(index_key: bytes, *parts: str) -> str:
    """Keyed hash of normalised values, e.g. (org_id, email.lower()): lookups, no plaintext."""
    return hmac.new(index_key, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()


class Sealer:
    """Seals and unseals fields of one subject with keys from the keyring."""

    def __init__(self, keyring: ServiceClient, cache_ttl_s: float = 60.0,
                 max_cached: int = 10_000) -> None:
        self._client = keyring
        self._ttl = cache_ttl_s
        self._cache: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_cached = max_cached

    async def key_for(self, subject_id: str, org_id: str = "", create: bool = False) -> bytes:
        cached = self._cache.get(subject_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        request = keyring_pb2.KeyRequest(subject_id=subject_id, org_id=org_id)
        try:
            stub = keyring_pb2_grpc.KeyringStub(self._client.channel)
            method = stub.GetOrCreateKey if create else stub.GetKey
            data_key = await self._client.call(method, request)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                raise SubjectForgotten(f"subject {subject_id} has no data key") from exc
            raise
        self._cache[subject_id] = (time.monotonic() + self._ttl, data_key.key)
        self._cache.move_to_end(subject_id)
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)
        return data_key.key

    def forget(self, subject_id: str) -> None:
        self._cache.pop(subject_id, None)

    async def seal(self, subject_id: str, fields: dict[str, str], *, org_id: str = "",
                   create: bool = False) -> dict[str, bytes]:
        key = await self.key_for(subject_id, org_id, create=create)
        return {name: seal_with(key, subject_id, name, value) for name, value in fields.items()}

    async def unseal(self, subject_id: str, fields: dict[str, bytes]) -> dict[str, str]:
        key = await self.key_for(subject_id)
        return {name: unseal_with(key, subject_id, name, value) for name, value in fields.items()}
