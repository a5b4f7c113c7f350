"""Data keys at rest exist only wrapped by the KEK, bound to their subject."""

from __future__ import annotations

import os

import pytest
from cryptography.exceptions import InvalidTag

from services.erasure.domain.keyring import new_data_key, subject_hash, unwrap, wrap


def test_wrapped_key_unwraps_to_the_data_key() -> None:
    kek, data_key = os.urandom(32), new_data_key()
    assert unwrap(kek, "member-1", wrap(kek, "member-1", data_key)) == data_key


def test_wrapped_key_does_not_contain_the_data_key() -> None:
    kek, data_key = os.urandom(32), new_data_key()
    assert data_key not in wrap(kek, "member-1", data_key)


def test_data_keys_are_256_bit_and_unique() -> None:
    first, second = new_data_key(), new_data_key()
    assert len(first) == 32
    assert first != second


def test_unwrapping_as_another_subject_fails() -> None:
    kek = os.urandom(32)
    wrapped = wrap(kek, "member-1", new_data_key())
    with pytest.raises(InvalidTag):
        unwrap(kek, "member-2", wrapped)


def test_unwrapping_with_another_kek_fails() -> None:
    wrapped = wrap(os.urandom(32), "member-1", new_data_key())
    with pytest.raises(InvalidTag):
        unwrap(os.urandom(32), "member-1", wrapped)


def test_tampered_wrapped_key_fails() -> None:
    kek = os.urandom(32)
    wrapped = bytearray(wrap(kek, "member-1", new_data_key()))
    wrapped[-1] ^= 0x01
    with pytest.raises(InvalidTag):
        unwrap(kek, "member-1", bytes(wrapped))


def test_subject_hash_is_stable_and_hides_the_id() -> None:
    subject_id = "3f2b9c1e-7a4d-4e8b-9c0a-1d2e3f4a5b6c"
    assert subject_hash(subject_id) == subject_hash(subject_id)
    assert subject_hash(subject_id) != subject_hash("another-member")
    assert subject_id not in subject_hash(subject_id)
    assert len(subject_hash(subject_id)) == 64
