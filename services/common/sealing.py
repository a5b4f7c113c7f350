"""PII sealing: personal fields at rest are AES-GCM ciphertext under the subject's data key.

The keys live in the keyring (the erasure service); this side fetches them over gRPC and
caches them briefly. Once a key is shredded, every sealed copy (database, backup, log)
is unreadable. A blind index (keyed HMAC of a normalised value) allows equality lookups
without storing the plaintext.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections import OrderedDict, deque

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
    return _seal(AESGCM(key), os.urandom(NONCE_BYTES), subject_id, field, plaintext)


def unseal_with(key: bytes, subject_id: str, field: str, sealed: bytes) -> str:
    return _unseal(AESGCM(key), subject_id, field, sealed)


def seal_bytes_with(key: bytes, subject_id: str, field: str, data: bytes) -> bytes:
    """As seal_with, for binary data (e.g. a member's export archive)."""
    return _seal_bytes(AESGCM(key), os.urandom(NONCE_BYTES), subject_id, field, data)


def unseal_bytes_with(key: bytes, subject_id: str, field: str, sealed: bytes) -> bytes:
    return _unseal_bytes(AESGCM(key), subject_id, field, sealed)


def _seal(aead: AESGCM, nonce: bytes, subject_id: str, field: str, plaintext: str) -> bytes:
    return _seal_bytes(aead, nonce, subject_id, field, plaintext.encode())


def _unseal(aead: AESGCM, subject_id: str, field: str, sealed: bytes) -> str:
    return _unseal_bytes(aead, subject_id, field, sealed).decode()


def _seal_bytes(aead: AESGCM, nonce: bytes, subject_id: str, field: str, data: bytes) -> bytes:
    aad = f"{subject_id}:{field}".encode()
    return FORMAT_V1 + nonce + aead.encrypt(nonce, data, aad)


def _unseal_bytes(aead: AESGCM, subject_id: str, field: str, sealed: bytes) -> bytes:
    if sealed[:1] != FORMAT_V1:
        raise ValueError("unknown sealed format")
    nonce, ciphertext = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    aad = f"{subject_id}:{field}".encode()
    return aead.decrypt(nonce, ciphertext, aad)


def blind_index(index_key: bytes, *parts: str) -> str:
    """Keyed hash of normalised values, e.g. (org_id, email.lower()): lookups, no plaintext."""
    return hmac.new(index_key, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()


class Sealer:
    """Seals and unseals fields of one subject with keys from the keyring."""

    def __init__(
        self, keyring: ServiceClient, cache_ttl_s: float = 60.0, max_cached: int = 10_000
    ) -> None:
        self._client = keyring
        self._ttl = cache_ttl_s
        # subject -> (expires at, key, its AES-GCM cipher: built once, not per field)
        self._cache: OrderedDict[str, tuple[float, bytes, AESGCM]] = OrderedDict()
        self._max_cached = max_cached

    async def key_for(self, subject_id: str) -> bytes:
        """The subject's key; keys are created by the keyring (ReserveKeys), never here."""
        cached = self._cache.get(subject_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        await self._fetch(subject_id)
        return self._cache[subject_id][1]

    async def _cipher_for(self, subject_id: str) -> AESGCM:
        cached = self._cache.get(subject_id)
        if cached and cached[0] > time.monotonic():
            return cached[2]
        await self._fetch(subject_id)
        return self._cache[subject_id][2]

    async def _fetch(self, subject_id: str) -> None:
        request = keyring_pb2.KeyRequest(subject_id=subject_id)
        try:
            stub = keyring_pb2_grpc.KeyringStub(self._client.channel)
            data_key = await self._client.call(stub.GetKey, request)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                raise SubjectForgotten(f"subject {subject_id} has no data key") from exc
            raise
        self.remember(subject_id, data_key.key)

    async def prefetch(self, subject_ids: list[str]) -> None:
        """Fetch the keys of many subjects in one call (for a batch); unknown ones are
        skipped here and fail later, one by one, in key_for."""
        now = time.monotonic()
        missing = sorted(
            {s for s in subject_ids if s not in self._cache or self._cache[s][0] <= now}
        )
        if not missing:
            return
        stub = keyring_pb2_grpc.KeyringStub(self._client.channel)
        found = await self._client.call(stub.GetKeys, keyring_pb2.KeysRequest(subject_ids=missing))
        for data_key in found.keys:
            self.remember(data_key.subject_id, data_key.key)

    def remember(self, subject_id: str, key: bytes) -> None:
        self._cache[subject_id] = (time.monotonic() + self._ttl, key, AESGCM(key))
        self._cache.move_to_end(subject_id)
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)

    def forget(self, subject_id: str) -> None:
        self._cache.pop(subject_id, None)

    async def seal(self, subject_id: str, fields: dict[str, str]) -> dict[str, bytes]:
        aead = await self._cipher_for(subject_id)
        nonces = os.urandom(NONCE_BYTES * len(fields))  # one system call for all fields
        return {
            name: _seal(aead, nonces[i * NONCE_BYTES : (i + 1) * NONCE_BYTES], subject_id, name, v)
            for i, (name, v) in enumerate(fields.items())
        }

    async def unseal(self, subject_id: str, fields: dict[str, bytes]) -> dict[str, str]:
        aead = await self._cipher_for(subject_id)
        return {name: _unseal(aead, subject_id, name, value) for name, value in fields.items()}


class SubjectReservations:
    """Ids and keys for new subjects, reserved from the keyring in batches per org, so that a
    sign-up needs no keyring call of its own. An id reserved but never used is harmless."""

    def __init__(self, keyring: ServiceClient, sealer: Sealer, batch_size: int = 200) -> None:
        self._client = keyring
        self._sealer = sealer
        self._batch_size = batch_size
        self._pools: dict[str, deque[str]] = {}
        self._refills: dict[str, asyncio.Lock] = {}

    async def take(self, org_id: str) -> str:
        pool = self._pools.setdefault(org_id, deque())
        while not pool:
            async with self._refills.setdefault(org_id, asyncio.Lock()):
                if not pool:
                    await self._refill(org_id, pool)
        return pool.popleft()

    async def _refill(self, org_id: str, pool: deque[str]) -> None:
        stub = keyring_pb2_grpc.KeyringStub(self._client.channel)
        reserved = await self._client.call(
            stub.ReserveKeys, keyring_pb2.ReserveKeysRequest(org_id=org_id, count=self._batch_size)
        )
        for data_key in reserved.keys:
            self._sealer.remember(data_key.subject_id, data_key.key)
            pool.append(data_key.subject_id)
