"""An org's templates: overriding a part (checked in the sandbox when saved), the list of kinds
with what each offers, and previews with sample values (SMS length in segments)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Row

from services.common.db.engine import Database
from services.notify.adapters.template_overrides import TemplateOverrides
from services.notify.adapters.templates import (
    Rendered,
    check_override,
    render,
    sample_context,
)
from services.notify.domain.content import (
    CONTENT,
    LANGUAGES,
    ORG_MESSAGE,
    SAMPLES,
    UNSUBSCRIBE_URL,
    parts_of,
    variables_of,
)
from services.notify.domain.messages import TEMPLATES


@dataclass(frozen=True)
class TemplateInfo:
    template: str
    message_class: str
    purpose: str
    legal_basis: str
    channels: tuple[str, ...]
    variables: tuple[str, ...]
    parts: tuple[str, ...]
    overridden: list[Row]


class OrgTemplates:
    def __init__(self, database: Database, overrides: TemplateOverrides) -> None:
        self.database = database
        self.overrides = overrides

    async def set_override(
        self, org_id: str, template: str, language: str, part: str, body: str
    ) -> datetime | None:
        """Saves the org's part (None: removed, ours again). InvalidArgument if it would not
        render, or names a variable the kind does not offer."""
        if body:
            check_override(template, language, part, body)
        else:
            check_override(template, language, part, "{{ name }}")  # the names, not the text
        now = datetime.now(UTC)
        async with self.database.transaction() as session:
            await self.overrides.save(session, org_id, template, language, part, body, now)
        return now if body else None

    async def list(self, org_id: str) -> list[TemplateInfo]:
        async with self.database.sessions() as session:
            rows = await self.overrides.of_org(session, org_id)
        infos = []
        for template, content in CONTENT.items():
            kind = TEMPLATES.get(template)
            infos.append(
                TemplateInfo(
                    template=template,
                    message_class=kind.message_class if kind else "",
                    purpose=kind.purpose if kind else "",
                    legal_basis=content.legal_basis,
                    channels=content.channels,
                    variables=variables_of(template),
                    parts=parts_of(template),
                    overridden=[r for r in rows if r.template == template],
                )
            )
        return infos

    async def preview(
        self, org_id: str, template: str, language: str, drafts: dict[str, str]
    ) -> Rendered:
        """The kind with sample values, the org's saved parts and the drafts over them."""
        lang = language or LANGUAGES[0]
        for part, body in drafts.items():
            check_override(template, lang, part, body)
        if template not in CONTENT or lang not in LANGUAGES:
            check_override(template, lang, "subject", "{{ name }}")  # raises the right error
        async with self.database.sessions() as session:
            saved = await self.overrides.parts(session, org_id, template, lang)
        context = sample_context(template)
        sample_link = SAMPLES[UNSUBSCRIBE_URL] if template == ORG_MESSAGE else None
        return render(template, lang, context, {**saved, **drafts}, sample_link)
