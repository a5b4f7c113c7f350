"""Suppressed addresses are stored as keyed hashes: stable per address, unreadable without
the key."""

from __future__ import annotations

from services.notify.domain.suppression import EMAIL, SMS, address_hash

KEY = b"k" * 32


def test_the_same_address_always_hashes_the_same() -> None:
    assert address_hash(KEY, EMAIL, " Kari@Example.NO ") == address_hash(
        KEY, EMAIL, "kari@example.no"
    )
    assert address_hash(KEY, SMS, "+47 912 34 567") == address_hash(KEY, SMS, "+4791234567")


def test_the_hash_depends_on_key_and_channel_and_holds_no_address() -> None:
    hashed = address_hash(KEY, EMAIL, "kari@example.no")
    assert hashed != address_hash(b"x" * 32, EMAIL, "kari@example.no")
    assert address_hash(KEY, SMS, "+4791234567") != address_hash(KEY, EMAIL, "+4791234567")
    assert "kari" not in hashed and len(hashed) == 64
