"""`kontingent form ...`: registration forms, written as YAML files and published as versions.

key: default
title: Innmelding
fields:
  - key: date_of_birth
    label: {nb: Fødselsdato, en: Date of birth}
    type: date            # text, email, phone, date, choice, boolean
    required: true
    category: identity    # or a special category (health, ...) with a justification
    purpose: age check for guardian consent
    legal_basis: contract # consent, contract, legal_obligation, legitimate_interest
    retention: P1Y        # after the membership ends
consent_purposes:
  - key: newsletter
    label: {nb: Nyhetsbrev, en: Newsletter}
    channel: email        # email, sms or any
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from membership.v1 import membership_pb2 as pb
from rich.console import Console
from rich.table import Table

from kontingent_cli.output import (
    JsonOpt,
    KeyOpt,
    OrgOpt,
    fail,
    membership_call,
    message,
    print_json,
)

form_app = typer.Typer(help="Registration forms (from YAML files).", no_args_is_help=True)

FIELD_KEYS = {
    "key",
    "label",
    "type",
    "required",
    "choices",
    "category",
    "purpose",
    "legal_basis",
    "retention",
    "justification",
}
PURPOSE_KEYS = {"key", "label", "channel"}
FORM_KEYS = {"key", "title", "fields", "consent_purposes"}


class FormFileError(ValueError):
    pass


def _mapping(value: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FormFileError(f"{where}: expected a mapping")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise FormFileError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")
    return value


def _labels(item: dict[str, Any], where: str) -> tuple[str, str]:
    label = item.get("label", {})
    if isinstance(label, str):
        return label, label
    label = _mapping(label, f"{where}.label", {"nb", "en"})
    return str(label.get("nb", "")), str(label.get("en", ""))


def form_request(text: str) -> pb.PublishFormRequest:
    """The YAML of a form as a PublishFormRequest; the server checks the content."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FormFileError(f"not valid YAML: {exc}") from None
    document = _mapping(document, "form", FORM_KEYS)
    request = pb.PublishFormRequest(
        key=str(document.get("key", "")), title=str(document.get("title", ""))
    )
    for i, raw in enumerate(document.get("fields") or []):
        where = f"fields[{i}]"
        item = _mapping(raw, where, FIELD_KEYS)
        nb, en = _labels(item, where)
        choices = item.get("choices") or []
        if not isinstance(choices, list):
            raise FormFileError(f"{where}.choices: expected a list")
        request.fields.append(
            pb.FormField(
                key=str(item.get("key", "")),
                label_nb=nb,
                label_en=en,
                type=str(item.get("type", "text")),
                required=bool(item.get("required", False)),
                choices=[str(c) for c in choices],
                category=str(item.get("category", "")),
                purpose=str(item.get("purpose", "")),
                legal_basis=str(item.get("legal_basis", "")),
                retention=str(item.get("retention", "")),
                justification=str(item.get("justification", "")),
            )
        )
    for i, raw in enumerate(document.get("consent_purposes") or []):
        where = f"consent_purposes[{i}]"
        item = _mapping(raw, where, PURPOSE_KEYS)
        nb, en = _labels(item, where)
        request.consent_purposes.append(
            pb.ConsentPurpose(
                key=str(item.get("key", "")),
                label_nb=nb,
                label_en=en,
                channel=str(item.get("channel", "any")),
            )
        )
    return request


def _show(form: pb.Form, as_json: bool) -> None:
    if as_json:
        print_json(message(form))
        return
    console = Console()
    console.print(f"form [bold]{form.key}[/bold] version {form.version}  {form.title}")
    table = Table("field", "type", "required", "category", "purpose", "legal basis", "retention")
    for f in form.fields:
        table.add_row(
            f.key,
            f.type + (f" ({', '.join(f.choices)})" if f.choices else ""),
            "yes" if f.required else "no",
            f.category,
            f.purpose,
            f.legal_basis,
            f.retention,
        )
    console.print(table)
    if form.consent_purposes:
        console.print(
            "consents asked (none pre-ticked): "
            + ", ".join(f"{p.key} [{p.channel}]" for p in form.consent_purposes)
        )


@form_app.command("publish")
def form_publish(
    path: Annotated[Path, typer.Argument(help="The form as YAML.")],
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Publish a form file as the next version of its key."""
    try:
        request = form_request(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"{path}: {exc.strerror}", 2) from None
    except FormFileError as exc:
        raise fail(f"{path}: {exc}", 2) from None
    _show(membership_call(org, api_key, "PublishForm", request), as_json)


@form_app.command("show")
def form_show(
    key: Annotated[str, typer.Argument()] = "default",
    version: Annotated[int, typer.Option(help="0: the latest")] = 0,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One form version, with every field's classification."""
    _show(
        membership_call(org, api_key, "GetForm", pb.GetFormRequest(key=key, version=version)),
        as_json,
    )


@form_app.command("list")
def form_list(org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """The latest version of each of the org's forms."""
    forms = membership_call(org, api_key, "ListForms", pb.ListFormsRequest()).forms
    if as_json:
        print_json([message(f) for f in forms])
        return
    table = Table("key", "version", "title", "fields", "consents asked", "published")
    for f in forms:
        table.add_row(
            f.key,
            str(f.version),
            f.title,
            str(len(f.fields)),
            ", ".join(p.key for p in f.consent_purposes),
            f.published_at.ToJsonString(),
        )
    Console().print(table)
