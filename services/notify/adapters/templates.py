"""Jinja2 templates (autoescaped HTML), one set per language."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.notify.domain.messages import RenderedEmail

_env = Environment(
    loader=PackageLoader("services.notify", "templates"),
    autoescape=select_autoescape(["html.j2"]),
    undefined=StrictUndefined,
    trim_blocks=True,
)
LANGUAGES = ("nb", "en")


def render_email(template: str, language: str, context: dict[str, Any]) -> RenderedEmail:
    lang = language if language in LANGUAGES else "nb"
    return RenderedEmail(
        subject=_env.get_template(f"{template}.{lang}.subject.j2").render(context).strip(),
        text=_env.get_template(f"{template}.{lang}.txt.j2").render(context),
        html=_env.get_template(f"{template}.{lang}.html.j2").render(context),
    )
