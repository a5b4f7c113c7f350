"""Access and portability requests, executed: the request's one task (made at verification)
reads every store's export, merges it into one document under the published schema, puts it
in an AES-256 ZIP under the password the verifying admin was given, and stores that sealed
with the member's key. In one transaction the archive is stored, the task and the request
complete, the password is forgotten and privacy.export-ready.v1 goes to the outbox, for
notify to email the member the one-time link. Failures retry with the pipeline's backoff
(TaskPasses). Downloads and the expiry sweep are here too."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from cryptography.exceptions import InvalidTag
from privacy.v1 import events_pb2
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.engine import Database
from services.common.envelope import new_envelope
from services.common.errors import FailedPrecondition, NotFound
from services.common.logging import get_logger
from services.common.outbox import add_event
from services.common.sealing import seal_bytes_with, unseal_bytes_with, unseal_with
from services.common.timestamps import to_timestamp
from services.common.topics import EXPORT_READY
from services.erasure.adapters.export_archive import encrypted_zip
from services.erasure.adapters.export_repository import ExportRepository
from services.erasure.domain import exports
from services.erasure.domain import requests as rules
from services.erasure.domain.export_links import ExportLinks
from services.erasure.domain.outcomes import TargetResult
from services.erasure.metrics import (
    EXPORT_DOWNLOADS,
    EXPORTS_SWEPT,
)
from services.erasure.service_layer.keyring import Keyring
from services.erasure.service_layer.task_passes import OneTaskRequests

log = get_logger(__name__)
ARCHIVE_FIELD = "export-archive"


class Exports(Protocol):
    async def export(self, org_id: str, member_id: str) -> dict[str, dict[str, object]]: ...


@dataclass(frozen=True)
class Archive:
    sealed: bytes
    expires_at: datetime


class ExportRunner(OneTaskRequests):
    types = rules.EXPORT_TYPES
    name = "export_request"

    def __init__(
        self,
        database: Database,
        stores: Exports,
        keyring: Keyring,
        links: ExportLinks,
        *,
        backoff_base_s: float = 2.0,
        backoff_cap_s: float = 3600.0,
        deadline_s: float = 30.0,
        idle_s: float = 1.0,
        batch_size: int = 20,
        on_committed: Callable[[], None] = lambda: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(
            database,
            backoff_base_s=backoff_base_s,
            backoff_cap_s=backoff_cap_s,
            deadline_s=deadline_s,
            idle_s=idle_s,
            batch_size=batch_size,
            now=now,
        )
        self.stores = stores
        self.keyring = keyring
        self.links = links
        self.on_committed = on_committed

    async def work(self, request: Row) -> Archive | None:
        return await self._archive(request)

    async def finish(self, request: Row, task: Row, attempts: int, result: Archive | None) -> None:
        archive = result
        note = "archive ready; link emailed" if archive else "member erased meanwhile: no export"

        async def store(session: AsyncSession, at: datetime) -> None:
            if archive is not None:
                await self._store(session, request, archive, at)

        if await self.complete(
            request,
            task,
            attempts,
            TargetResult(action="exported", note=note),
            store,
            sealed_password=None,  # forgotten: only the verifying admin has it now
        ):
            self.on_committed()

    async def _archive(self, request: Row) -> Archive | None:
        """The sealed archive; None when the member's key is gone (erased meanwhile), since
        nothing readable of them is left to export."""
        try:
            key = (await self.keyring.get(request.subject_id)).key
        except (FailedPrecondition, NotFound):
            return None
        if request.sealed_password is None:
            raise FailedPrecondition(f"request {request.id} has no archive password")
        password = unseal_with(
            key, request.subject_id, exports.PASSWORD_FIELD, request.sealed_password
        )
        generated_at = self.now()
        document = exports.merge(
            request_id=request.id,
            request_type=request.type,
            org_id=request.org_id,
            member_id=request.subject_id,
            generated_at=generated_at,
            stores=await self.stores.export(request.org_id, request.subject_id),
        )
        files = {exports.DOCUMENT_NAME: json.dumps(document, ensure_ascii=False, indent=2)}
        if request.type == "access":  # for a person to read; portability is for machines
            files[exports.README_NAME] = exports.readme(document)
        sealed = seal_bytes_with(
            key, request.subject_id, ARCHIVE_FIELD, encrypted_zip(files, password)
        )
        return Archive(sealed, generated_at + timedelta(seconds=self.links.ttl_s))

    async def _store(
        self, session: AsyncSession, request: Row, archive: Archive, at: datetime
    ) -> None:
        await ExportRepository(session).add(
            {
                "request_id": request.id,
                "org_id": request.org_id,
                "subject_id": request.subject_id,
                "sealed_archive": archive.sealed,
                "created_at": at,
                "expires_at": archive.expires_at,
            }
        )
        await add_event(
            session,
            EXPORT_READY,
            new_envelope(
                "privacy.export-ready",
                events_pb2.ExportReady(
                    request_id=request.id,
                    org_id=request.org_id,
                    member_id=request.subject_id,
                    download_url=self.links.url(request.id),
                    expires_at=to_timestamp(archive.expires_at),
                ),
                org_id=request.org_id,
                subject_id=request.subject_id,
            ),
        )


READY = "ready"  # the link works: the archive is there, not yet taken
DOWNLOADED = "downloaded"
GONE = "gone"  # expired, already downloaded, or unreadable (the member's key was shredded)
NOT_FOUND = "not_found"  # forged, tampered with or malformed: names nothing


@dataclass(frozen=True)
class Download:
    outcome: str
    archive: bytes = b""


class ExportDownloads:
    """/exports/{token}: the archive once, and never again. Looking (`state`) spends nothing,
    so that a mail scanner following the link does not use it up; taking (`take`) does."""

    def __init__(
        self,
        database: Database,
        keyring: Keyring,
        links: ExportLinks,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.keyring = keyring
        self.links = links
        self.now = now

    async def state(self, token: str) -> str:
        """READY, GONE or NOT_FOUND for this token now; changes nothing."""
        check = self.links.check(token)
        if check.request_id is None:
            return NOT_FOUND
        if check.expired:
            return GONE
        async with self.database.sessions() as session:
            found = await ExportRepository(session).get(check.request_id)
        if found is None:
            return NOT_FOUND
        return READY if found.sealed_archive is not None else GONE

    async def take(self, token: str) -> Download:
        download = await self._take(token)
        EXPORT_DOWNLOADS.labels(download.outcome).inc()
        return download

    async def _take(self, token: str) -> Download:
        check = self.links.check(token)
        if check.request_id is None:
            return Download(NOT_FOUND)
        if check.expired:
            return Download(GONE)  # and nothing changes: the sweep empties it
        async with self.database.sessions() as session:
            found = await ExportRepository(session).get(check.request_id)
        if found is None:
            return Download(NOT_FOUND)
        try:  # before the link is spent: a shredded key leaves nothing to hand out
            key = (await self.keyring.get(found.subject_id)).key
        except (FailedPrecondition, NotFound):
            return Download(GONE)
        async with self.database.transaction() as session:
            repo = ExportRepository(session)
            current = await repo.get(check.request_id)
            sealed = current.sealed_archive if current is not None else None
            if sealed is None or not await repo.take(check.request_id, self.now()):
                return Download(GONE)
        try:
            archive = unseal_bytes_with(key, found.subject_id, ARCHIVE_FIELD, sealed)
        except InvalidTag:
            return Download(GONE)
        log.info("export_downloaded", request_id=check.request_id)
        return Download(DOWNLOADED, archive)


async def sweep_expired(database: Database, now: datetime | None = None) -> int:
    """Empties archives whose link expired unused; returns how many."""
    async with database.transaction() as session:
        emptied = await ExportRepository(session).empty_expired(now or datetime.now(UTC))
    if emptied:
        EXPORTS_SWEPT.inc(emptied)
        log.info("exports_swept", archives=emptied)
    return emptied
