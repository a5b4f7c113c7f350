"""PII sealing: AES-GCM per subject and field, and blind indexes for equality lookups."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from cryptography.exceptions import InvalidTag
from privacy.v1 import keyring_pb2

from services.common.sealing import (
    Sealer,
    SubjectForgotten,
    SubjectReservations,
    blind_index,
    seal_with,
    unseal_with,
)

EMAIL = "kari.nordmann@example.no"


def new_key() -> bytes:
    return os.urandom(32)


def test_sealed_value_unseals_to_the_original() -> None:
    key = new_key()
    sealed = seal_with(key, "member-1", "email", EMAIL)
    assert unseal_with(key, "member-1", "email", sealed) == EMAIL


def test_sealed_bytes_never_contain_the_plaintext() -> None:
    sealed = seal_with(new_key(), "member-1", "email", EMAIL)
    assert EMAIL.encode() not in sealed
    assert b"kari" not in sealed


def test_sealing_twice_gives_different_ciphertexts() -> None:
    key = new_key()
    assert seal_with(key, "m", "email", EMAIL) != seal_with(key, "m", "email", EMAIL)


def test_unsealing_with_another_subject_fails() -> None:
    key = new_key()
    sealed = seal_with(key, "member-1", "email", EMAIL)
    with pytest.raises(InvalidTag):
        unseal_with(key, "member-2", "email", sealed)


def test_unsealing_as_another_field_fails() -> None:
    key = new_key()
    sealed = seal_with(key, "member-1", "email", EMAIL)
    with pytest.raises(InvalidTag):
        unseal_with(key, "member-1", "phone", sealed)


def test_unsealing_with_another_key_fails() -> None:
    sealed = seal_with(new_key(), "member-1", "email", EMAIL)
    with pytest.raises(InvalidTag):
        unseal_with(new_key(), "member-1", "email", sealed)


def test_unknown_sealed_format_is_refused() -> None:
    key = new_key()
    sealed = seal_with(key, "member-1", "email", EMAIL)
    with pytest.raises(ValueError, match="format"):
        unseal_with(key, "member-1", "email", b"\x02" + sealed[1:])


def test_blind_index_is_deterministic() -> None:
    key = new_key()
    assert blind_index(key, "org-1", EMAIL) == blind_index(key, "org-1", EMAIL)


def test_blind_index_depends_on_the_key() -> None:
    assert blind_index(new_key(), "org-1", EMAIL) != blind_index(new_key(), "org-1", EMAIL)


def test_blind_index_differs_per_org() -> None:
    key = new_key()
    assert blind_index(key, "org-1", EMAIL) != blind_index(key, "org-2", EMAIL)


def test_blind_index_does_not_reveal_the_value() -> None:
    index = blind_index(new_key(), "org-1", EMAIL)
    assert EMAIL not in index
    assert "kari" not in index


def _rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "fake")


class FakeKeyring:
    """The keyring service at the edge: a channel whose methods answer from a dict."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes | None] = {}  # None: shredded
        self.calls: list[str] = []

    def unary_unary(self, path: str, **_: Any) -> Callable[..., Awaitable[Any]]:
        method = path.rsplit("/", 1)[-1]

        async def call(request: Any, **__: Any) -> Any:
            self.calls.append(method)
            if method == "GetKeys":
                return keyring_pb2.DataKeys(
                    keys=[
                        keyring_pb2.DataKey(subject_id=s, key=self.keys[s])
                        for s in request.subject_ids
                        if self.keys.get(s)
                    ]
                )
            if method == "ReserveKeys":
                fresh = {
                    f"{request.org_id}-{len(self.keys) + i}": new_key()
                    for i in range(request.count)
                }
                self.keys |= fresh
                return keyring_pb2.DataKeys(
                    keys=[keyring_pb2.DataKey(subject_id=s, key=k) for s, k in fresh.items()]
                )
            subject = request.subject_id
            if subject not in self.keys:
                raise _rpc_error(grpc.StatusCode.NOT_FOUND)
            key = self.keys[subject]
            if key is None:
                raise _rpc_error(grpc.StatusCode.FAILED_PRECONDITION)
            return keyring_pb2.DataKey(subject_id=subject, key=key)

        return call


class FakeKeyringClient:
    """Stands in for ServiceClient: same `channel` and `call(method, request)` shape."""

    def __init__(self, keyring: FakeKeyring) -> None:
        self.channel = keyring

    async def call(self, method: Callable[..., Awaitable[Any]], request: object) -> Any:
        return await method(request)


@pytest.fixture
def keyring() -> FakeKeyring:
    return FakeKeyring()


@pytest.fixture
def sealer(keyring: FakeKeyring) -> Sealer:
    return Sealer(FakeKeyringClient(keyring))  # type: ignore[arg-type]


async def test_sealer_round_trips_a_members_fields(sealer: Sealer, keyring: FakeKeyring) -> None:
    fields = {"email": EMAIL, "phone": "+4791234567"}
    keyring.keys["member-1"] = new_key()
    sealed = await sealer.seal("member-1", fields)
    assert all(EMAIL.encode() not in value for value in sealed.values())
    assert await sealer.unseal("member-1", sealed) == fields


async def test_sealer_asks_the_keyring_once_while_the_key_is_cached(
    sealer: Sealer, keyring: FakeKeyring
) -> None:
    keyring.keys["member-1"] = new_key()
    sealed = await sealer.seal("member-1", {"email": EMAIL})
    await sealer.unseal("member-1", sealed)
    await sealer.unseal("member-1", sealed)
    assert keyring.calls == ["GetKey"]


async def test_unsealing_without_a_key_does_not_create_one(sealer: Sealer) -> None:
    sealed = seal_with(new_key(), "member-9", "email", EMAIL)
    with pytest.raises(SubjectForgotten):
        await sealer.unseal("member-9", {"email": sealed})


async def test_a_shredded_subject_can_never_be_read_again(
    sealer: Sealer, keyring: FakeKeyring
) -> None:
    keyring.keys["member-1"] = new_key()
    sealed = await sealer.seal("member-1", {"email": EMAIL})
    keyring.keys["member-1"] = None  # shredded in the keyring
    sealer.forget("member-1")
    with pytest.raises(SubjectForgotten):
        await sealer.unseal("member-1", sealed)
    with pytest.raises(SubjectForgotten):
        await sealer.seal("member-1", {"email": EMAIL})


async def test_prefetch_fetches_a_batch_of_keys_in_one_call(
    sealer: Sealer, keyring: FakeKeyring
) -> None:
    keyring.keys = {"a": new_key(), "b": new_key(), "shredded": None}
    await sealer.prefetch(["a", "b", "shredded", "unknown"])
    assert keyring.calls == ["GetKeys"]
    sealed = await sealer.seal("a", {"email": "a@example.no"})
    assert await sealer.unseal("a", sealed) == {"email": "a@example.no"}
    assert keyring.calls == ["GetKeys"]  # served from the prefetched keys
    await sealer.prefetch(["a", "b"])
    assert keyring.calls == ["GetKeys"]  # nothing missing, nothing asked
    with pytest.raises(SubjectForgotten):
        await sealer.key_for("shredded")


async def test_reservations_hand_out_fresh_subjects_with_keys_in_batches(
    sealer: Sealer, keyring: FakeKeyring
) -> None:
    reservations = SubjectReservations(
        FakeKeyringClient(keyring),
        sealer,  # type: ignore[arg-type]
        batch_size=3,
    )
    subjects = [await reservations.take("org-1") for _ in range(4)]
    assert len(set(subjects)) == 4
    assert keyring.calls == ["ReserveKeys", "ReserveKeys"]
    sealed = await sealer.seal(subjects[0], {"name": "Kari"})
    assert await sealer.unseal(subjects[0], sealed) == {"name": "Kari"}
    assert keyring.calls == ["ReserveKeys", "ReserveKeys"]  # the reserved key was remembered
