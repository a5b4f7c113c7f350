"""Registration forms of an org: publish a version, read one, list the latest of each.
Published versions never change, so they are cached for good; "the latest" only briefly."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from services.common.db.engine import Database
from services.common.errors import FailedPrecondition, NotFound
from services.common.grpc.auth import Principal
from services.membership.adapters import audit
from services.membership.adapters import forms as form_table
from services.membership.adapters.audit import Change
from services.membership.domain.forms import (
    BASE_FORM,
    DEFAULT_FORM,
    ConsentPurpose,
    FormDefinition,
    FormField,
    validate_form,
)
from services.membership.metrics import FORMS_PUBLISHED

LATEST_TTL_S = 30.0
MAX_CACHED = 10_000


@dataclass(frozen=True)
class PublishedForm:
    form_id: str  # "" for the base form of an org without forms
    version: int
    definition: FormDefinition
    published_at: datetime | None = None


class FormCatalog:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._versions: dict[tuple[str, str, int], PublishedForm] = {}
        self._latest: dict[tuple[str, str], tuple[float, PublishedForm]] = {}
        self._by_id: dict[tuple[str, str], PublishedForm] = {}

    async def publish(
        self,
        caller: Principal,
        key: str,
        title: str,
        fields: list[FormField],
        purposes: list[ConsentPurpose],
    ) -> PublishedForm:
        definition = validate_form(key, title, fields, purposes)
        form_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        try:
            async with self.database.transaction() as session:
                version = await form_table.latest_version(session, caller.org_id, definition.key)
                await form_table.add(session, form_id, caller.org_id, definition, version + 1, now)
                await audit.record(
                    session,
                    caller.org_id,
                    Change(
                        caller.actor,
                        "form.published",
                        form_id,
                        tuple(f.key for f in definition.fields),
                    ),
                )
        except IntegrityError as exc:
            raise FailedPrecondition(
                f"form {definition.key} was published concurrently; publish again"
            ) from exc
        self._latest.pop((caller.org_id, definition.key), None)
        FORMS_PUBLISHED.inc()
        return PublishedForm(form_id, version + 1, definition, now)

    async def get(self, org_id: str, key: str, version: int) -> PublishedForm:
        """Version 0: the latest. An org that has published no form of the default key
        signs members up with the base form (name, email, phone)."""
        key = key or DEFAULT_FORM
        if version < 0:
            raise NotFound(f"form {key} version {version} not found")
        cache_key = (org_id, key)
        if version:
            cached = self._versions.get((org_id, key, version))
        else:
            entry = self._latest.get(cache_key)
            cached = entry[1] if entry and entry[0] > time.monotonic() else None
        if cached is not None:
            return cached
        async with self.database.sessions() as session:
            row = await form_table.find(session, org_id, key, version)
        if row is None:
            if key == DEFAULT_FORM and not version:
                found = PublishedForm("", 0, BASE_FORM)
            else:
                raise NotFound(
                    f"form {key}" + (f" version {version}" if version else "") + " not found"
                )
        else:
            found = PublishedForm(
                row.id, row.version, form_table.definition_of(row), row.published_at
            )
        if len(self._versions) >= MAX_CACHED:
            self._versions.clear()
        if found.version:
            self._versions[(org_id, key, found.version)] = found
        if not version:
            self._latest[cache_key] = (time.monotonic() + LATEST_TTL_S, found)
        return found

    async def by_id(self, org_id: str, form_id: str) -> PublishedForm | None:
        cached = self._by_id.get((org_id, form_id))
        if cached is not None:
            return cached
        async with self.database.sessions() as session:
            row = await form_table.by_id(session, org_id, form_id)
        if row is None:
            return None
        found = PublishedForm(row.id, row.version, form_table.definition_of(row), row.published_at)
        if len(self._by_id) >= MAX_CACHED:
            self._by_id.clear()
        self._by_id[(org_id, form_id)] = found
        return found

    async def latest_of_each(self, org_id: str) -> list[PublishedForm]:
        async with self.database.sessions() as session:
            rows = await form_table.latest_of_each(session, org_id)
        return [
            PublishedForm(r.id, r.version, form_table.definition_of(r), r.published_at)
            for r in rows
        ]

    async def purposes_of(self, org_id: str) -> frozenset[str]:
        """Every consent purpose the org's current forms ask for."""
        return frozenset(
            p for form in await self.latest_of_each(org_id) for p in form.definition.purpose_keys()
        )
