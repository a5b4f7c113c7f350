"""The keyring on a real database: one key per subject, shredding is final, and a shredded
key leaves no readable copy in the SQLite files."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select

from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.timestamps import to_timestamp
from services.erasure.adapters.key_store import KeyStore
from services.erasure.adapters.orm import data_keys
from services.erasure.domain.keyring import subject_hash
from services.erasure.domain.ledger import DIRECT
from services.erasure.service_layer.keyring import Keyring

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "erasure" / "migrations"
SUBJECT = "3f2b9c1e-7a4d-4e8b-9c0a-1d2e3f4a5b6c"
ORG = "org-1"
LEDGER_KEY = b"ledger-key-for-tests"


@pytest.fixture
def kek() -> bytes:
    return os.urandom(32)


@pytest.fixture
def keyring(database: Database, kek: bytes) -> Keyring:
    return Keyring(KeyStore(database), kek, LEDGER_KEY)


async def test_a_subject_always_gets_the_same_key(keyring: Keyring) -> None:
    first = await keyring.get_or_create(SUBJECT, ORG)
    second = await keyring.get_or_create(SUBJECT, ORG)
    assert first.key == second.key
    assert len(first.key) == 32
    assert (await keyring.get(SUBJECT)).key == first.key


async def test_subjects_get_different_keys(keyring: Keyring) -> None:
    first = await keyring.get_or_create("member-1", ORG)
    second = await keyring.get_or_create("member-2", ORG)
    assert first.key != second.key


async def test_concurrent_first_requests_agree_on_one_key(keyring: Keyring) -> None:
    issued = await asyncio.gather(*(keyring.get_or_create(SUBJECT, ORG) for _ in range(5)))
    assert len({key.key for key in issued}) == 1


async def test_the_key_survives_a_restart(database: Database, keyring: Keyring, kek: bytes) -> None:
    issued = await keyring.get_or_create(SUBJECT, ORG)
    restarted = Database(str(database.url.render_as_string(hide_password=False)))
    try:
        assert (await Keyring(KeyStore(restarted), kek, LEDGER_KEY).get(SUBJECT)).key == issued.key
    finally:
        await restarted.close()


async def test_an_unknown_subject_has_no_key(keyring: Keyring) -> None:
    with pytest.raises(NotFound):
        await keyring.get(SUBJECT)
    assert await keyring.state(SUBJECT) is None


async def test_the_key_is_stored_wrapped_and_without_the_subject_id(
    database: Database, keyring: Keyring
) -> None:
    issued = await keyring.get_or_create(SUBJECT, ORG)
    async with database.transaction() as session:
        row = (await session.execute(select(data_keys))).one()
    assert row.subject_hash == subject_hash(SUBJECT)
    assert issued.key not in row.wrapped_key
    assert all(SUBJECT not in str(value) for value in row)


async def test_the_key_cannot_be_read_with_another_kek(
    database: Database, keyring: Keyring
) -> None:
    await keyring.get_or_create(SUBJECT, ORG)
    with pytest.raises(InvalidTag):
        await Keyring(KeyStore(database), os.urandom(32), LEDGER_KEY).get(SUBJECT)


async def test_a_shredded_key_is_gone_for_good(keyring: Keyring) -> None:
    await keyring.get_or_create(SUBJECT, ORG)
    shredded_at, already = await keyring.shred(SUBJECT, ORG, DIRECT)
    assert already is False

    with pytest.raises(FailedPrecondition):
        await keyring.get(SUBJECT)
    with pytest.raises(FailedPrecondition):  # no fresh key for an erased subject either
        await keyring.get_or_create(SUBJECT, ORG)
    state = await keyring.state(SUBJECT)
    assert state is not None
    assert to_timestamp(state.shredded_at) == to_timestamp(shredded_at)  # as the receipt says


async def test_shredding_twice_reports_the_first_shredding(keyring: Keyring) -> None:
    await keyring.get_or_create(SUBJECT, ORG)
    first_at, _ = await keyring.shred(SUBJECT, ORG, DIRECT)
    again_at, already = await keyring.shred(SUBJECT, None, DIRECT)  # an internal caller
    assert already is True
    assert to_timestamp(again_at) == to_timestamp(first_at)  # what the receipt shows


async def test_another_org_cannot_shred_the_key(keyring: Keyring) -> None:
    issued = await keyring.get_or_create(SUBJECT, ORG)
    with pytest.raises(NotFound):
        await keyring.shred(SUBJECT, "org-2", DIRECT)
    assert (await keyring.get(SUBJECT)).key == issued.key


async def test_shredding_an_unknown_subject_is_not_found(keyring: Keyring) -> None:
    with pytest.raises(NotFound):
        await keyring.shred(SUBJECT, None, DIRECT)


@pytest.fixture
async def sqlite_keyring(
    make_database_url: Callable[[str, str], str], kek: bytes
) -> AsyncIterator[tuple[Keyring, Path]]:
    url = make_database_url("sqlite", "keyring")
    db = Database(url)
    await upgrade_to_head(db, MIGRATIONS)
    yield Keyring(KeyStore(db), kek, LEDGER_KEY), Path(db.url.database or "")
    await db.close()


def on_disk(db_file: Path) -> bytes:
    files = [db_file, db_file.with_name(db_file.name + "-wal")]
    return b"".join(f.read_bytes() for f in files if f.exists())


async def test_a_shredded_key_leaves_no_copy_in_the_sqlite_files(
    sqlite_keyring: tuple[Keyring, Path],
) -> None:
    keyring, db_file = sqlite_keyring
    for n in range(20):  # neighbours on the same pages
        await keyring.get_or_create(f"member-{n}", ORG)
    await keyring.get_or_create(SUBJECT, ORG)
    found = await keyring.store.find(subject_hash(SUBJECT))
    assert found is not None
    wrapped = found.wrapped_key
    assert wrapped in on_disk(db_file)  # the check below can see it

    await keyring.shred(SUBJECT, ORG, DIRECT)

    assert wrapped not in on_disk(db_file)
    assert (await keyring.get("member-7")).key  # the neighbours are intact


async def test_a_key_needs_a_subject_and_an_org(keyring: Keyring) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await keyring.get_or_create("", "")
    assert set(refused.value.field_errors) == {"subject_id", "org_id"}


async def test_reserved_keys_belong_to_fresh_subjects_of_the_org(keyring: Keyring) -> None:
    reserved = await keyring.reserve(ORG, 5)
    assert len(reserved) == 5 and len({k.key for k in reserved.values()}) == 5
    for subject, issued in reserved.items():
        assert (await keyring.get(subject)).key == issued.key
        assert (await keyring.state(subject)).org_id == ORG  # type: ignore[union-attr]
    with pytest.raises(InvalidArgument):
        await keyring.reserve(ORG, 0)


async def test_many_keys_at_once_leave_out_the_unknown_and_the_shredded(keyring: Keyring) -> None:
    live = await keyring.get_or_create("live", ORG)
    await keyring.get_or_create("gone", ORG)
    await keyring.shred("gone", ORG, DIRECT)
    found = await keyring.get_many(["live", "gone", "never"])
    assert {s: k.key for s, k in found.items()} == {"live": live.key}
