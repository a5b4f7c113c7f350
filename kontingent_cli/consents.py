"""`kontingent consent ...`: a member's consents per purpose, with their history."""

from __future__ import annotations

from typing import Annotated

import typer
from membership.v1 import membership_pb2 as pb
from rich.console import Console
from rich.table import Table

from kontingent_cli.output import JsonOpt, KeyOpt, OrgOpt, membership_call, message, print_json

consent_app = typer.Typer(help="Members' consents per purpose.", no_args_is_help=True)
SourceOpt = Annotated[str, typer.Option(help="member, admin, unsubscribe or guardian")]


def _show(consents: pb.Consents, as_json: bool) -> None:
    if as_json:
        print_json(message(consents))
        return
    console = Console()
    console.print("consented now: " + (", ".join(consents.granted) or "nothing"))
    table = Table("at", "purpose", "change", "source", "policy version")
    for c in consents.history:
        table.add_row(
            c.at.ToJsonString(),
            c.purpose,
            "granted" if c.granted else "withdrawn",
            c.source,
            str(c.policy_version),
        )
    console.print(table)


def _set(member_id: str, purpose: str, granted: bool, source: str, org, api_key, as_json) -> None:  # type: ignore[no-untyped-def]
    request = pb.SetConsentRequest(
        member_id=member_id, purpose=purpose, granted=granted, source=source
    )
    _show(membership_call(org, api_key, "SetConsent", request), as_json)


@consent_app.command("grant")
def consent_grant(
    member_id: str,
    purpose: str,
    source: SourceOpt = "member",
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a member's consent to a purpose the org's forms ask for."""
    _set(member_id, purpose, True, source, org, api_key, as_json)


@consent_app.command("withdraw")
def consent_withdraw(
    member_id: str,
    purpose: str,
    source: SourceOpt = "member",
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Withdraw a member's consent to a purpose."""
    _set(member_id, purpose, False, source, org, api_key, as_json)


@consent_app.command("list")
def consent_list(
    member_id: str, org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """A member's consents now and every change, oldest first."""
    _show(
        membership_call(org, api_key, "ListConsents", pb.ListConsentsRequest(member_id=member_id)),
        as_json,
    )
