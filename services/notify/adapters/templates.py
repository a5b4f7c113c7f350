"""Jinja2 templates: ours from the package (HTML autoescaped), an org's own in a sandbox.

Every kind has, per language, a subject, an HTML and a plain-text body, and an SMS text where
it goes by SMS. An org may override any part; its template runs in
jinja2.sandbox.SandboxedEnvironment (no attribute tricks, no imports, no file access) and is
checked when saved: it must parse, use only the variables its kind offers and render with
sample values. A marketing message always ends with our unsubscribe footer, which no
override can remove.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import (
    Environment,
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    meta,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment

from services.common.errors import InvalidArgument
from services.common.logging import get_logger
from services.notify.domain.content import (
    CONTENT,
    HTML,
    LANGUAGES,
    SAMPLES,
    SMS_TEXT,
    SUBJECT,
    TEXT,
    UNSUBSCRIBE_URL,
    language_of,
    parts_of,
    variables_of,
)
from services.notify.domain.messages import RenderedEmail
from services.notify.domain.sms import SmsLength, sms_length

log = get_logger(__name__)

_FILE = {SUBJECT: "subject", HTML: "html", TEXT: "txt", SMS_TEXT: "sms"}
MAX_OVERRIDE_CHARS = 20_000

_ours = Environment(
    loader=PackageLoader("services.notify", "templates"),
    autoescape=select_autoescape(["html.j2"]),
    undefined=StrictUndefined,
    trim_blocks=True,
)
_sandboxes = {
    escaped: SandboxedEnvironment(autoescape=escaped, undefined=StrictUndefined, trim_blocks=True)
    for escaped in (True, False)
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    sms: str | None  # None where the kind does not go by SMS

    @property
    def email(self) -> RenderedEmail:
        return RenderedEmail(self.subject, self.text, self.html)

    @property
    def sms_length(self) -> SmsLength | None:
        return None if self.sms is None else sms_length(self.sms)


@functools.lru_cache(maxsize=1024)
def _sandboxed(body: str, escaped: bool) -> Template:
    return _sandboxes[escaped].from_string(body)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _render_part(
    template: str, language: str, part: str, context: Mapping[str, Any], override: str | None
) -> str:
    if override is not None:
        try:
            return _sandboxed(override, part == HTML).render(context)
        except TemplateError as exc:  # saved before a check tightened, or a bad value
            log.warning(
                "template_override_failed", template=template, part=part, error=type(exc).__name__
            )
    return _ours.get_template(f"{template}.{language}.{_FILE[part]}.j2").render(context)


def render(
    template: str,
    language: str,
    context: Mapping[str, Any],
    overrides: Mapping[str, str] | None = None,
    unsubscribe_url: str | None = None,
) -> Rendered:
    """All parts of a kind in the language (nb when unknown). With an unsubscribe URL (a
    marketing message) every body ends with the unsubscribe footer."""
    lang = language_of(language)
    overrides = overrides or {}
    values = {**context, UNSUBSCRIBE_URL: unsubscribe_url or ""}
    parts = {
        part: _render_part(template, lang, part, values, overrides.get(part))
        for part in parts_of(template)
    }
    if unsubscribe_url:
        for part in (HTML, TEXT, SMS_TEXT):
            if part in parts:
                footer = _ours.get_template(f"footers/unsubscribe.{lang}.{_FILE[part]}.j2")
                parts[part] = parts[part].rstrip("\n") + "\n" + footer.render(values)
    sms = parts.get(SMS_TEXT)
    return Rendered(
        subject=_one_line(parts[SUBJECT]),
        text=parts[TEXT],
        html=parts[HTML],
        sms=_one_line(sms) if sms is not None else None,
    )


def sample_context(template: str) -> dict[str, str]:
    return {name: SAMPLES[name] for name in variables_of(template)}


def check_sandboxed(field: str, body: str, allowed: tuple[str, ...], escaped: bool) -> None:
    """An org's template text: parses, names only `allowed` variables, renders with samples
    in the sandbox. InvalidArgument (on `field`) otherwise."""
    if len(body) > MAX_OVERRIDE_CHARS:
        raise InvalidArgument({field: f"at most {MAX_OVERRIDE_CHARS} characters"})
    env = _sandboxes[escaped]
    try:
        parsed = env.parse(body)
    except TemplateSyntaxError as exc:
        raise InvalidArgument(
            {field: f"template syntax error on line {exc.lineno}: {exc.message}"}
        ) from None
    unknown = sorted(meta.find_undeclared_variables(parsed) - set(allowed))
    if unknown:
        raise InvalidArgument(
            {field: f"unknown variables {', '.join(unknown)}; offered: {', '.join(allowed)}"}
        )
    try:
        env.from_string(body).render({name: SAMPLES.get(name, name) for name in allowed})
    except TemplateError as exc:  # SecurityError (unsafe code) is one
        raise InvalidArgument(
            {field: f"does not render: {type(exc).__name__}: {exc}"[:300]}
        ) from None


def check_override(template: str, language: str, part: str, body: str) -> None:
    """Refuses (InvalidArgument) what could not be saved as the org's own part."""
    if template not in CONTENT:
        raise InvalidArgument({"template": f"one of {', '.join(sorted(CONTENT))}"})
    if language not in LANGUAGES:
        raise InvalidArgument({"language": f"one of {', '.join(LANGUAGES)}"})
    if part not in parts_of(template):
        raise InvalidArgument({"part": f"one of {', '.join(parts_of(template))}"})
    allowed = (*variables_of(template), UNSUBSCRIBE_URL)
    check_sandboxed("body", body, allowed, escaped=part == HTML)
    if part == SUBJECT and not _one_line(body):
        raise InvalidArgument({"body": "a subject must not be empty"})


def render_org_notice(kind: str, language: str, context: Mapping[str, Any]) -> RenderedEmail:
    """A notice from the platform to an org (templates/org/): ours only, never overridden
    (an org's overrides are for what it sends its members)."""
    lang = language_of(language)
    parts = {
        part: _ours.get_template(f"org/{kind}.{lang}.{_FILE[part]}.j2").render(context)
        for part in (SUBJECT, HTML, TEXT)
    }
    return RenderedEmail(_one_line(parts[SUBJECT]), parts[TEXT], parts[HTML])


def render_org_text(text: str, context: Mapping[str, Any]) -> str:
    """An org's own subject or body (SendToMembers), checked before with check_sandboxed."""
    return _sandboxed(text, False).render(context)
