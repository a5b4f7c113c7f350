"""`kontingent org ...` and `kontingent policy ...`: the org, its contact details and its
privacy policy and terms versions."""

from __future__ import annotations

from typing import Annotated

import typer
from membership.v1 import membership_pb2 as pb
from membership.v1 import membership_pb2_grpc
from rich.console import Console
from rich.table import Table

from kontingent_cli.clients import Credentials, Session, admin_token
from kontingent_cli.output import (
    JsonOpt,
    KeyOpt,
    OrgOpt,
    err,
    fail,
    masked_update,
    membership_call,
    message,
    print_json,
    rpc,
)

org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
policy_app = typer.Typer(
    help="Privacy policy and terms versions; a material change asks members to re-consent.",
    no_args_is_help=True,
)


@org_app.command("create")
def org_create(
    name: str,
    org_number: Annotated[str, typer.Option(help="Organisasjonsnummer (9 digits).")],
    language: Annotated[str, typer.Option(help="nb or en")] = "nb",
    as_json: JsonOpt = False,
) -> None:
    """Create an org; prints its id and its first API key (shown once, saved locally)."""
    try:
        session = Session(admin_token())
    except LookupError as exc:
        raise fail(str(exc), 2) from None
    with session.channel("membership") as channel:
        stub = membership_pb2_grpc.MembershipServiceStub(channel)
        created = rpc(
            lambda: session.call(
                stub.CreateOrg,
                pb.CreateOrgRequest(name=name, org_number=org_number, language=language),
            )
        )
    Credentials().save(created.org_id, created.api_key)
    if as_json:
        print_json(message(created))
        return
    typer.echo(f"org_id:  {created.org_id}")
    typer.echo(f"api_key: {created.api_key}")
    typer.echo(f"scopes:  {' '.join(created.scopes)}")
    err.print(f"The API key is shown once. It is saved for this CLI in {Credentials().path}.")


def _show_org(org: pb.Org, as_json: bool) -> None:
    if as_json:
        print_json(message(org))
        return
    table = Table(show_header=False)
    for label, value in (
        ("org id", org.org_id),
        ("name", org.name),
        ("org number", org.org_number),
        ("language", org.language),
        ("contact email", org.contact_email),
        ("contact phone", org.contact_phone),
        ("contact address", org.contact_address),
        ("privacy policy", f"version {org.policy_version}" if org.policy_version else "none"),
        ("terms", f"version {org.terms_version}" if org.terms_version else "none"),
    ):
        table.add_row(label, value)
    Console().print(table)


@org_app.command("show")
def org_show(org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """The org: contact details, language, current policy versions."""
    _show_org(membership_call(org, api_key, "GetOrg", pb.GetOrgRequest()), as_json)


@org_app.command("update")
def org_update(
    name: Annotated[str | None, typer.Option()] = None,
    language: Annotated[str | None, typer.Option(help="nb or en")] = None,
    contact_email: Annotated[str | None, typer.Option()] = None,
    contact_phone: Annotated[str | None, typer.Option()] = None,
    contact_address: Annotated[str | None, typer.Option()] = None,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change the org's name, language or contact details: only the options given change."""
    request = masked_update(
        pb.UpdateOrgRequest,
        {
            "name": name,
            "language": language,
            "contact_email": contact_email,
            "contact_phone": contact_phone,
            "contact_address": contact_address,
        },
    )
    _show_org(membership_call(org, api_key, "UpdateOrg", request), as_json)


def _show_policies(versions: list[pb.PolicyVersion], as_json: bool) -> None:
    if as_json:
        print_json([message(v) for v in versions])
        return
    table = Table("kind", "version", "material", "published", "url", "summary")
    for v in versions:
        table.add_row(
            v.kind,
            str(v.version),
            "yes" if v.material else "no",
            v.published_at.ToJsonString(),
            v.url,
            v.summary,
        )
    Console().print(table)


@policy_app.command("publish")
def policy_publish(
    url: Annotated[str, typer.Option(help="Where members read it (https).")],
    summary: Annotated[str, typer.Option(help="What changed.")] = "",
    kind: Annotated[str, typer.Option(help="privacy or terms")] = "privacy",
    material: Annotated[
        bool, typer.Option("--material", help="Members who accepted an older version re-consent.")
    ] = False,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Publish a new version of the privacy policy or the terms."""
    published = membership_call(
        org,
        api_key,
        "PublishPolicy",
        pb.PublishPolicyRequest(kind=kind, url=url, summary=summary, material=material),
    )
    _show_policies([published], as_json)
    if material and not as_json:
        err.print(
            f"{published.members_to_reconsent} member(s) must accept version "
            f"{published.version}: kontingent member list --needs-reconsent"
        )


@policy_app.command("list")
def policy_list(
    kind: Annotated[str, typer.Option(help="privacy or terms; default both")] = "",
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every version published, newest first."""
    found = membership_call(org, api_key, "ListPolicies", pb.ListPoliciesRequest(kind=kind))
    _show_policies(list(found.versions), as_json)
