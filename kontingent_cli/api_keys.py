"""`kontingent key ...` and `kontingent audit list`: an org admin's keys and audit log."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from membership.v1 import membership_pb2 as pb
from rich.console import Console
from rich.table import Table

from kontingent_cli.output import JsonOpt, KeyOpt, OrgOpt, err, membership_call, message, print_json

key_app = typer.Typer(help="API keys of an org (needs the admin scope).", no_args_is_help=True)
audit_app = typer.Typer(help="The org's audit log (needs the admin scope).", no_args_is_help=True)


def _show_keys(keys: list[Any], as_json: bool) -> None:
    if as_json:
        print_json([message(key) for key in keys])
        return
    table = Table("key id", "label", "scopes", "created", "revoked")
    for key in keys:
        table.add_row(
            key.key_id,
            key.label,
            " ".join(key.scopes),
            key.created_at.ToJsonString(),
            key.revoked_at.ToJsonString() if key.HasField("revoked_at") else "",
        )
    Console().print(table)


def _show_created(created: Any, as_json: bool) -> None:
    if as_json:
        print_json(message(created))
        return
    _show_keys([created.key], as_json=False)
    typer.echo(f"api_key: {created.api_key}")
    err.print("The API key is shown once; store it now.")


@key_app.command("create")
def key_create(
    scopes: Annotated[
        list[str],
        typer.Option("--scope", help="Repeat: members:read, members:write, privacy, admin."),
    ],
    label: Annotated[str, typer.Option(help="What the key is for.")] = "",
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key with the given scopes; its secret is shown once."""
    _show_created(
        membership_call(
            org, api_key, "CreateApiKey", pb.CreateApiKeyRequest(scopes=scopes, label=label)
        ),
        as_json,
    )


@key_app.command("list")
def key_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="Revoked keys too.")] = False,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The org's keys: ids, labels, scopes and dates; never secrets."""
    keys = membership_call(
        org, api_key, "ListApiKeys", pb.ListApiKeysRequest(include_revoked=include_revoked)
    ).keys
    _show_keys(list(keys), as_json)


@key_app.command("revoke")
def key_revoke(
    key_id: str, org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Revoke a key; it stops working at once."""
    _show_keys(
        [membership_call(org, api_key, "RevokeApiKey", pb.ApiKeyRef(key_id=key_id))], as_json
    )


@key_app.command("rotate")
def key_rotate(
    key_id: str, org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Replace a key by a new one with the same scopes; the old one is revoked."""
    _show_created(
        membership_call(org, api_key, "RotateApiKey", pb.ApiKeyRef(key_id=key_id)), as_json
    )


@audit_app.command("list")
def audit_list(
    page_size: Annotated[int, typer.Option(help="Entries per page (1-500).")] = 50,
    page_token: Annotated[str, typer.Option(help="From the previous page.")] = "",
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Who changed what and when, newest first: field names, never values."""
    page = membership_call(
        org,
        api_key,
        "ListAuditEntries",
        pb.ListAuditEntriesRequest(page_size=page_size, page_token=page_token),
    )
    if as_json:
        print_json(message(page))
        return
    table = Table("at", "actor", "action", "object", "fields")
    for entry in page.entries:
        table.add_row(
            entry.at.ToJsonString(),
            entry.actor,
            entry.action,
            entry.object_id,
            " ".join(entry.fields),
        )
    Console().print(table)
    if page.next_page_token:
        err.print(f"more: --page-token {page.next_page_token}")
