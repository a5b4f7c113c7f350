"""Data keys and their wrapping. A data key exists only wrapped by the KEK at rest; the
subject is known to the keyring only by a hash of its id."""

from __future__ import annotations

import functools
import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


def subject_hash(subject_id: str) -> str:
    return hashlib.sha256(f"kontingent-subject:{subject_id}".encode()).hexdigest()


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


@functools.lru_cache(maxsize=4)
def _cipher(kek: bytes) -> AESGCM:
    """The KEK's cipher, built once (a process has one KEK, two while it rotates)."""
    return AESGCM(kek)


def wrap(kek: bytes, subject_id: str, data_key: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + _cipher(kek).encrypt(nonce, data_key, subject_id.encode())


def unwrap(kek: bytes, subject_id: str, wrapped: bytes) -> bytes:
    return _cipher(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], subject_id.encode())
