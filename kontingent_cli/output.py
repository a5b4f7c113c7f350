"""What every CLI command shares: the credential options, calling gRPC, printing results."""

from __future__ import annotations

import json
from typing import Annotated, Any

import grpc
import typer
from google.protobuf.json_format import MessageToDict
from membership.v1 import membership_pb2_grpc
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kontingent_cli.clients import Credentials, Session

err = Console(stderr=True)

OrgOpt = Annotated[str | None, typer.Option("--org", help="Org id whose saved API key to use.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="KONTINGENT_API_KEY", help="Org API key (overrides the saved one)."
    ),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    # Escaped: a message naming a field like `answers[date]` is text, not markup. Not wrapped:
    # a path or id cut in two at the terminal's width cannot be copied or grepped.
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def org_session(org: str | None, api_key: str | None) -> Session:
    try:
        return Session(Credentials().api_key(org, api_key))
    except LookupError as exc:
        raise fail(str(exc), 2) from None


def rpc(call):  # type: ignore[no-untyped-def]
    try:
        return call()
    except grpc.RpcError as exc:
        raise fail(f"{exc.code().name}: {exc.details()}") from None


def print_json(document: Any) -> None:
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


def message(msg: Any) -> dict[str, Any]:
    return MessageToDict(msg, preserving_proto_field_name=True)


def membership_call(org: str | None, api_key: str | None, method: str, request: Any) -> Any:
    """One call to the org API with the org's key; a gRPC error ends the command."""
    session = org_session(org, api_key)
    with session.channel("membership") as channel:
        stub = membership_pb2_grpc.MembershipServiceStub(channel)
        return rpc(lambda: session.call(getattr(stub, method), request))


def show_member(member: Any, as_json: bool) -> None:
    """A member as a two-column table, or its JSON."""
    if as_json:
        print_json(message(member))
        return
    table = Table(show_header=False)
    period = f"{member.period_start} to {member.period_end}" if member.period_end else ""
    rows = [
        ("member id", member.member_id),
        ("name", member.name),
        ("email", member.email),
        ("phone", member.phone),
        ("language", member.language),
        ("status", member.status),
        ("membership type", member.membership_type_id),
        ("period", period),
        ("registered", member.registered_at.ToJsonString()),
        ("form", f"{member.form_key} version {member.form_version}"),
        *((f"answer: {k}", v) for k, v in sorted(member.answers.items())),
        ("consents", ", ".join(member.consents)),
        ("policy accepted", f"privacy {member.policy_version}, terms {member.terms_version}"),
        ("must re-consent", "yes" if member.needs_reconsent else "no"),
        ("restricted", "yes" if member.restricted else "no"),
        ("objects to", ", ".join(member.objections)),
    ]
    if member.HasField("guardian"):
        g = member.guardian
        rows.append(("guardian", f"{g.name} {g.email or g.phone} (consented: {g.consent})"))
    for label, value in rows:
        table.add_row(label, value)
    Console().print(table)


def masked_update(request_type: Any, options: dict[str, str | None], **ids: str) -> Any:
    """An Update request of only the options given, with its field mask; none given ends the
    command with a usage error."""
    changes = {name: value for name, value in options.items() if value is not None}
    if not changes:
        given = ", ".join(f"--{name.replace('_', '-')}" for name in options)
        raise fail(f"give at least one of {given}", 2)
    request = request_type(**ids, **changes)
    request.update_mask.paths.extend(changes)
    return request
