"""`kontingent retention ...`: load an org's retention profile (a shipped one by name, or a
YAML file), show the active one with its history, and list the shipped profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from privacy.v1 import retention_pb2 as pb
from privacy.v1 import retention_pb2_grpc
from rich.console import Console
from rich.table import Table

from kontingent_cli.output import (
    JsonOpt,
    KeyOpt,
    OrgOpt,
    fail,
    message,
    org_session,
    print_json,
    rpc,
)

retention_app = typer.Typer(
    help="Retention profiles: how long each kind of data is kept, enforced by every service.",
    no_args_is_help=True,
)


def retention_call(org: str | None, api_key: str | None, method: str, request: Any) -> Any:
    session = org_session(org, api_key)
    with session.channel("erasure") as channel:
        stub = retention_pb2_grpc.RetentionStub(channel)
        return rpc(lambda: session.call(getattr(stub, method), request))


def _keep(rule: pb.RetentionRule) -> str:
    """e.g. "the last 10; 0 days after end of relationship (up to 3 months)"."""
    parts = [f"the last {rule.keep_last}"] if rule.keep_last else []
    if rule.keep:
        parts.append(f"{rule.keep} after {rule.after.replace('_', ' ')}")
    return "; ".join(parts) + (f" (up to {rule.maximum})" if rule.maximum else "")


def _rules(profile: pb.RetentionProfile, title: str) -> Table:
    table = Table("category", "keep", "action", "basis", title=title)
    table.columns[0].no_wrap = True
    for rule in profile.rules:
        table.add_row(rule.category, _keep(rule), rule.action, rule.basis)
    return table


def _show(found: pb.OrgProfile, as_json: bool) -> None:
    if as_json:
        print_json(message(found))
        return
    console = Console()
    if not found.loaded:
        console.print(f"org {found.org_id} has no retention profile: no sweep deletes anything")
        return
    p = found.profile
    console.print(_rules(p, f"{p.name} v{p.version} ({p.seed}), revision {found.active.revision}"))
    history = Table("revision", "profile", "version", "origin", "loaded at", "by", title="loads")
    for load in found.history:
        history.add_row(
            str(load.revision),
            load.name,
            str(load.version),
            load.origin,
            load.loaded_at.ToDatetime().isoformat(timespec="seconds") + "Z",
            load.loaded_by,
        )
    console.print(history)


@retention_app.command("load")
def retention_load(
    profile: Annotated[
        str, typer.Argument(help="A shipped profile's name (see `profiles`) or a YAML file.")
    ],
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a profile the org's active one; every service's sweep enforces it from then on."""
    path = Path(profile)
    if path.suffix in (".yaml", ".yml"):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise fail(f"{profile}: {exc.strerror}", 2) from None
        request = pb.LoadProfileRequest(org_id=org or "", yaml=text, file_name=path.name)
    else:
        request = pb.LoadProfileRequest(org_id=org or "", name=profile)
    _show(retention_call(org, api_key, "LoadProfile", request), as_json)


@retention_app.command("show")
def retention_show(org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """The org's active profile and every load before it."""
    _show(
        retention_call(org, api_key, "GetProfile", pb.GetProfileRequest(org_id=org or "")),
        as_json,
    )


@retention_app.command("profiles")
def retention_profiles(
    org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """The profiles shipped with the platform, one per seed privacy policy."""
    found = retention_call(org, api_key, "ListProfiles", pb.ListProfilesRequest())
    if as_json:
        print_json(message(found))
        return
    console = Console()
    for p in found.profiles:
        console.print(_rules(p, f"{p.name} v{p.version}: {p.seed}"))
