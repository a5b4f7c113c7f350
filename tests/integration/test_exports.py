"""Access and portability requests inside the erasure service, on a real database and keyring:
verified through the request use cases (the admin gets the password once), run by the export
runner (stores stand in, one can be told to fail), downloaded through the one-time link."""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import itsdangerous
import pytest
import pyzipper
from cryptography.exceptions import InvalidTag
from events.v1.envelope_pb2 import Envelope
from jsonschema import Draft202012Validator
from privacy.v1 import events_pb2
from sqlalchemy import select

from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.db.tables import outbox
from services.common.envelope import unpack
from services.common.errors import FailedPrecondition
from services.common.grpc.auth import SCOPE_PRIVACY, Principal, current_tenant
from services.common.sealing import unseal_bytes_with
from services.common.topics import EXPORT_READY
from services.erasure.adapters.export_repository import ExportRepository
from services.erasure.adapters.key_store import KeyStore
from services.erasure.domain import exports
from services.erasure.domain.export_links import ExportLinks
from services.erasure.service_layer.exports import (
    ARCHIVE_FIELD,
    DOWNLOADED,
    GONE,
    NOT_FOUND,
    READY,
    ExportDownloads,
    ExportRunner,
    sweep_expired,
)
from services.erasure.service_layer.keyring import Keyring
from services.erasure.service_layer.requests import PrivacyRequests, RequestView
from services.erasure.service_layer.subject_store import KeyringSubjectStore
from tests.integration.conftest import SERVICES_DIR
from tests.unit.erasure.test_member_export import STORES

ORG = "org-a"
ADMIN = Principal(kind="org", org_id=ORG, scopes=frozenset({SCOPE_PRIVACY}), key_id="key-1")
TTL_S = 3600
SCHEMA = Draft202012Validator(json.loads(exports.SCHEMA_PATH.read_text()))


class NoContacts:
    async def email_of(self, org_id: str, member_id: str) -> str | None:
        raise AssertionError("only an erasure captures the address")


@dataclass
class StandInStores:
    """The other stores' exports, and the erasure service's own; `failures` raises first."""

    keyring: Keyring
    failures: int = 0

    async def export(self, org_id: str, member_id: str) -> dict[str, dict[str, Any]]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("billing is away")
        own = await KeyringSubjectStore(self.keyring).export(org_id, member_id)
        return {**{k: v for k, v in STORES.items() if k != "erasure"}, "erasure": own}


@dataclass
class Setup:
    db: Database
    keyring: Keyring
    requests: PrivacyRequests
    runner: ExportRunner
    downloads: ExportDownloads
    stores: StandInStores
    links: ExportLinks

    async def member(self) -> str:
        member_id = str(uuid.uuid4())
        await self.keyring.get_or_create(member_id, ORG)
        return member_id

    async def file_and_verify(self, member_id: str, type_: str) -> RequestView:
        filed = await self.requests.file(ADMIN, member_id, type_)
        return await self.requests.verify_identity(
            ADMIN, filed.request.id, "admin-attestation", "saw the member's ID card"
        )

    async def drive(self, request_id: str) -> RequestView:
        for _ in range(200):
            await self.runner.run_once()
            view = await self.requests.get(ORG, request_id)
            if view.request.status == "completed":
                return view
        raise AssertionError(f"request {request_id} never completed")

    async def export_ready(self) -> list[events_pb2.ExportReady]:
        async with self.db.sessions() as session:
            rows = (await session.execute(select(outbox.c.topic, outbox.c.value))).all()
        return [
            unpack(Envelope.FromString(r.value), events_pb2.ExportReady)
            for r in rows
            if r.topic == EXPORT_READY.name
        ]

    async def archive_row(self, request_id: str) -> Any:
        async with self.db.sessions() as session:
            return await ExportRepository(session).get(request_id)


@pytest.fixture
async def setup(database_url: str) -> AsyncIterator[Setup]:
    db = Database(database_url, tenant=current_tenant)
    await upgrade_to_head(db, SERVICES_DIR / "erasure" / "migrations")
    keyring = Keyring(KeyStore(db), os.urandom(32), os.urandom(32))
    links = ExportLinks("link-key", "https://erasure.example.org", TTL_S)
    stores = StandInStores(keyring)
    runner = ExportRunner(db, stores, keyring, links, backoff_base_s=0.01, backoff_cap_s=0.02)
    yield Setup(
        db,
        keyring,
        PrivacyRequests(db, keyring, NoContacts()),
        runner,
        ExportDownloads(db, keyring, links),
        stores,
        links,
    )
    await db.close()


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def opened(archive: bytes, password: str) -> dict[str, str]:
    with pyzipper.AESZipFile(io.BytesIO(archive)) as zipped:
        zipped.setpassword(password.encode())
        return {info.filename: zipped.read(info).decode() for info in zipped.infolist()}


async def test_access_ends_in_an_encrypted_archive_behind_a_link_that_works_once(
    setup: Setup,
) -> None:
    member = await setup.member()
    verified = await setup.file_and_verify(member, "access")
    password = verified.archive_password
    assert password and verified.request.sealed_password is not None
    assert password.encode() not in verified.request.sealed_password
    # Read again, the request no longer shows it.
    assert (await setup.requests.get(ORG, verified.request.id)).archive_password == ""

    done = await setup.drive(verified.request.id)

    assert done.request.sealed_password is None  # forgotten once the archive is made
    assert [h.status for h in done.history][-1] == "completed"
    assert [(t.target, t.status) for t in done.tasks] == [("member-export", "done")]
    [ready] = await setup.export_ready()
    assert (ready.request_id, ready.org_id, ready.member_id) == (done.request.id, ORG, member)
    assert ready.download_url.startswith("https://erasure.example.org/exports/")
    assert member not in ready.download_url
    stored = await setup.archive_row(done.request.id)
    assert b"PK" not in stored.sealed_archive[:8]  # sealed again at rest, not a bare ZIP

    token = token_of(ready.download_url)
    for _ in range(2):  # looking at the link (a mail scanner, say) spends nothing
        assert await setup.downloads.state(token) == READY
    first = await setup.downloads.take(token)
    assert first.outcome == DOWNLOADED
    with pytest.raises(RuntimeError):  # the archive does not open without the password
        opened(first.archive, "wrong-password")
    files = opened(first.archive, password)
    assert sorted(files) == ["README.txt", "member-export.json"]
    document = json.loads(files["member-export.json"])
    assert list(SCHEMA.iter_errors(document)) == []
    assert (document["member_id"], document["request_type"]) == (member, "access")
    assert document["stores"]["erasure"]["data_key"]["created_at"]

    again = await setup.downloads.take(token)
    assert again.outcome == GONE
    assert await setup.downloads.state(token) == GONE
    gone = await setup.archive_row(done.request.id)
    assert gone.sealed_archive is None and gone.downloaded_at is not None


async def test_portability_is_the_document_alone(setup: Setup) -> None:
    member = await setup.member()
    verified = await setup.file_and_verify(member, "portability")
    await setup.drive(verified.request.id)
    [ready] = await setup.export_ready()
    taken = await setup.downloads.take(token_of(ready.download_url))
    files = opened(taken.archive, verified.archive_password)
    assert list(files) == ["member-export.json"]
    assert SCHEMA.is_valid(json.loads(files["member-export.json"]))


async def test_a_store_that_fails_is_retried_and_the_request_completes(setup: Setup) -> None:
    member = await setup.member()
    setup.stores.failures = 2
    verified = await setup.file_and_verify(member, "access")

    await setup.runner.run_once()
    waiting = await setup.requests.get(ORG, verified.request.id)
    assert waiting.request.status == "in_progress"
    assert waiting.tasks[0].last_error == "ConnectionError"
    assert await setup.export_ready() == []

    done = await setup.drive(verified.request.id)
    assert done.tasks[0].attempts == 3
    assert len(await setup.export_ready()) == 1


async def test_a_forged_or_expired_link_changes_nothing(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = await setup.member()
    verified = await setup.file_and_verify(member, "access")
    await setup.drive(verified.request.id)
    [ready] = await setup.export_ready()
    token = token_of(ready.download_url)
    forged = token_of(ExportLinks("not-our-key", "https://x", TTL_S).url(verified.request.id))

    assert (await setup.downloads.take(forged)).outcome == NOT_FOUND
    assert await setup.downloads.state(forged) == NOT_FOUND
    assert (await setup.downloads.take("garbage")).outcome == NOT_FOUND
    later = int(datetime.now(UTC).timestamp()) + TTL_S + 1
    with monkeypatch.context() as m:
        m.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: later)
        assert (await setup.downloads.take(token)).outcome == GONE

    untouched = await setup.archive_row(verified.request.id)
    assert untouched.sealed_archive is not None and untouched.downloaded_at is None
    assert (await setup.downloads.take(token)).outcome == DOWNLOADED  # still the one time


async def test_the_sweep_empties_archives_whose_link_expired(setup: Setup) -> None:
    member = await setup.member()
    verified = await setup.file_and_verify(member, "access")
    await setup.drive(verified.request.id)

    assert await sweep_expired(setup.db) == 0
    assert await sweep_expired(setup.db, datetime.now(UTC) + timedelta(seconds=TTL_S + 1)) == 1

    swept = await setup.archive_row(verified.request.id)
    assert swept.sealed_archive is None and swept.downloaded_at is None
    [ready] = await setup.export_ready()
    assert (await setup.downloads.take(token_of(ready.download_url))).outcome == GONE


async def test_shredding_the_members_key_makes_a_stored_archive_unreadable(setup: Setup) -> None:
    member = await setup.member()
    verified = await setup.file_and_verify(member, "access")
    await setup.drive(verified.request.id)
    key = (await setup.keyring.get(member)).key
    sealed = (await setup.archive_row(verified.request.id)).sealed_archive
    assert unseal_bytes_with(key, member, ARCHIVE_FIELD, sealed)  # readable while the key lives

    await setup.keyring.shred(member, ORG, "direct")

    [ready] = await setup.export_ready()
    assert (await setup.downloads.take(token_of(ready.download_url))).outcome == GONE
    with pytest.raises(FailedPrecondition):  # the only key that opened it is gone
        await setup.keyring.get(member)
    with pytest.raises(InvalidTag):  # any other key (a guess) cannot open it either
        unseal_bytes_with(os.urandom(32), member, ARCHIVE_FIELD, sealed)


async def test_a_member_erased_before_the_archive_is_made_gets_none(setup: Setup) -> None:
    member = await setup.member()
    verified = await setup.file_and_verify(member, "portability")
    await setup.keyring.shred(member, ORG, "direct")

    done = await setup.drive(verified.request.id)

    assert done.history[-1].note == "member erased meanwhile: no export"
    assert await setup.export_ready() == []
    assert await setup.archive_row(verified.request.id) is None
