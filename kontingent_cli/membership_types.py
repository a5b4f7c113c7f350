"""`kontingent type ...`: an org's membership types (create needs the admin scope)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from membership.v1 import membership_pb2 as pb
from rich.console import Console
from rich.table import Table

from kontingent_cli.output import JsonOpt, KeyOpt, OrgOpt, membership_call, message, print_json

type_app = typer.Typer(
    help="Membership types: period, calendar or rolling, grace days.", no_args_is_help=True
)


def _show(types: list[Any], as_json: bool) -> None:
    if as_json:
        print_json([message(t) for t in types])
        return
    table = Table("type id", "name", "period", "kind", "rollover", "grace days")
    for t in types:
        table.add_row(t.type_id, t.name, t.period, t.kind, t.rollover, str(t.grace_days))
    Console().print(table)


@type_app.command("create")
def type_create(
    name: str,
    period: Annotated[str, typer.Option(help="yearly or monthly")] = "yearly",
    kind: Annotated[
        str, typer.Option(help="fixed (calendar year or month) or rolling (from the payment)")
    ] = "fixed",
    rollover: Annotated[
        str,
        typer.Option(help="Fixed yearly only, MM-DD: a sign-up from this day covers next year."),
    ] = "",
    grace_days: Annotated[
        int, typer.Option(help="Days after the period ends before the member lapses (0-365).")
    ] = 30,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a membership type of the org."""
    request = pb.CreateMembershipTypeRequest(
        name=name, period=period, kind=kind, rollover=rollover, grace_days=grace_days
    )
    created = membership_call(org, api_key, "CreateMembershipType", request)
    if as_json:
        print_json(message(created))
        return
    _show([created], as_json=False)


@type_app.command("list")
def type_list(org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """The org's membership types, oldest first."""
    types = membership_call(
        org, api_key, "ListMembershipTypes", pb.ListMembershipTypesRequest()
    ).types
    _show(list(types), as_json)
