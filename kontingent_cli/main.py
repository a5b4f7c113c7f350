"""`kontingent`: the command line over the public gRPC APIs, and the local stack."""

from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from membership.v1 import membership_pb2
from privacy.v1 import data_subject_pb2, data_subject_pb2_grpc
from privacy.v1 import requests_pb2 as erasure_pb2
from rich.console import Console
from rich.table import Table

from kontingent_cli import (
    api_keys,
    billing,
    consents,
    erasure,
    forms,
    membership_types,
    orgs,
    retention,
)
from kontingent_cli.member_import import member_import
from kontingent_cli.output import (
    JsonOpt,
    KeyOpt,
    OrgOpt,
    err,
    fail,
    masked_update,
    membership_call,
    message,
    org_session,
    print_json,
    rpc,
    show_member,
)

app = typer.Typer(
    help="Kontingent: members, payments and privacy for voluntary orgs.", no_args_is_help=True
)
member_app = typer.Typer(help="Members and their rights.", no_args_is_help=True)
dev_app = typer.Typer(help="The local stack.", no_args_is_help=True)
app.add_typer(orgs.org_app, name="org")
app.add_typer(orgs.policy_app, name="policy")
app.add_typer(forms.form_app, name="form")
app.add_typer(consents.consent_app, name="consent")
app.add_typer(member_app, name="member")
app.add_typer(dev_app, name="dev")
app.add_typer(api_keys.key_app, name="key")
app.add_typer(api_keys.audit_app, name="audit")
app.add_typer(membership_types.type_app, name="type")
app.add_typer(billing.billing_app, name="billing")
app.add_typer(erasure.erasure_app, name="erasure")
app.add_typer(retention.retention_app, name="retention")

# The stores `member export` merges, each its own key in the document.
STORES = ("membership", "billing", "notify", "erasure")


@member_app.command("register")
def member_register(
    name: Annotated[str, typer.Option()],
    email: Annotated[str, typer.Option()],
    phone: Annotated[str, typer.Option()],
    language: Annotated[str, typer.Option(help="nb or en; default: the org's")] = "",
    form: Annotated[str, typer.Option(help="Form key; default: default")] = "",
    form_version: Annotated[int, typer.Option(help="0: the latest")] = 0,
    answer: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE for a field of the form; repeatable.")
    ] = None,
    consent: Annotated[
        list[str] | None, typer.Option(help="A purpose the member ticked; repeatable.")
    ] = None,
    accept_policy: Annotated[int, typer.Option(help="Privacy policy version accepted.")] = 0,
    accept_terms: Annotated[int, typer.Option(help="Terms version accepted.")] = 0,
    membership_type: Annotated[str, typer.Option("--type", help="Membership type id.")] = "",
    guardian_name: Annotated[str, typer.Option(help="Under 15: the guardian.")] = "",
    guardian_email: Annotated[str, typer.Option()] = "",
    guardian_phone: Annotated[str, typer.Option()] = "",
    guardian_consent: Annotated[
        bool, typer.Option("--guardian-consent", help="The guardian consents.")
    ] = False,
    validate_only: Annotated[
        bool, typer.Option("--validate-only", help="Check everything, store nothing.")
    ] = False,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a member (sign-up through the org API)."""
    answers: dict[str, str] = {}
    for item in answer or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise fail(f"--answer {item!r}: expected KEY=VALUE", 2)
        answers[key] = value
    request = membership_pb2.RegisterMemberRequest(
        name=name,
        email=email,
        phone=phone,
        language=language,
        form_key=form,
        form_version=form_version,
        answers=answers,
        consents=consent or [],
        accepted_policy_version=accept_policy,
        accepted_terms_version=accept_terms,
        membership_type_id=membership_type,
        validate_only=validate_only,
    )
    if guardian_name or guardian_email or guardian_phone or guardian_consent:
        request.guardian.CopyFrom(
            membership_pb2.Guardian(
                name=guardian_name,
                email=guardian_email,
                phone=guardian_phone,
                consent=guardian_consent,
            )
        )
    show_member(membership_call(org, api_key, "RegisterMember", request), as_json)


member_app.command("import")(member_import)


@member_app.command("accept-policy")
def member_accept_policy(
    member_id: str,
    policy_version: Annotated[int, typer.Option("--policy", help="The current version.")],
    terms_version: Annotated[int, typer.Option("--terms", help="0: the current terms")] = 0,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a member's acceptance of the current privacy policy (and terms)."""
    request = membership_pb2.AcceptPolicyRequest(
        member_id=member_id, policy_version=policy_version, terms_version=terms_version
    )
    show_member(membership_call(org, api_key, "AcceptPolicy", request), as_json)


@member_app.command("get")
def member_get(
    member_id: str, org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Show one member."""
    request = membership_pb2.GetMemberRequest(member_id=member_id)
    show_member(membership_call(org, api_key, "GetMember", request), as_json)


@member_app.command("list")
def member_list(
    status: Annotated[str, typer.Option(help="pending, active, grace, lapsed, cancelled")] = "",
    page_size: Annotated[int, typer.Option(help="Members per page (1-500).")] = 50,
    page_token: Annotated[str, typer.Option(help="From the previous page.")] = "",
    membership_type: Annotated[str, typer.Option("--type", help="Membership type id.")] = "",
    needs_reconsent: Annotated[
        bool,
        typer.Option("--needs-reconsent", help="Only members who must accept the policy again."),
    ] = False,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The org's members, a page at a time."""
    page = membership_call(
        org,
        api_key,
        "ListMembers",
        membership_pb2.ListMembersRequest(
            status=status,
            page_size=page_size,
            page_token=page_token,
            membership_type_id=membership_type,
            needs_reconsent=needs_reconsent,
        ),
    )
    if as_json:
        print_json(message(page))
        return
    table = Table("member id", "name", "email", "phone", "status", "registered")
    for m in page.members:
        table.add_row(
            m.member_id, m.name, m.email, m.phone, m.status, m.registered_at.ToJsonString()
        )
    Console().print(table)
    if page.next_page_token:
        err.print(f"more: --page-token {page.next_page_token}")


@member_app.command("update")
def member_update(
    member_id: str,
    name: Annotated[str | None, typer.Option()] = None,
    email: Annotated[str | None, typer.Option()] = None,
    phone: Annotated[str | None, typer.Option()] = None,
    language: Annotated[str | None, typer.Option()] = None,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rectify a member's details: only the options given change."""
    request = masked_update(
        membership_pb2.UpdateMemberRequest,
        {"name": name, "email": email, "phone": phone, "language": language},
        member_id=member_id,
    )
    show_member(membership_call(org, api_key, "UpdateMember", request), as_json)


@member_app.command("cancel")
def member_cancel(
    member_id: str, org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Cancel a membership (the member stays in the register until erased)."""
    request = membership_pb2.CancelMembershipRequest(member_id=member_id)
    show_member(membership_call(org, api_key, "CancelMembership", request), as_json)


@member_app.command("restrict")
def member_restrict(
    member_id: str,
    lift: Annotated[bool, typer.Option("--lift", help="End the restriction.")] = False,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Restrict processing of a member's data (GDPR art. 18), or lift it."""
    request = membership_pb2.SetRestrictionRequest(member_id=member_id, restricted=not lift)
    show_member(membership_call(org, api_key, "SetRestriction", request), as_json)


@member_app.command("object")
def member_object(
    member_id: str,
    purpose: Annotated[str, typer.Option(help="e.g. marketing, newsletter")],
    withdraw: Annotated[bool, typer.Option("--withdraw", help="Withdraw the objection.")] = False,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a member's objection to a purpose (GDPR art. 21), or withdraw it."""
    request = membership_pb2.SetObjectionRequest(
        member_id=member_id, purpose=purpose, objecting=not withdraw
    )
    show_member(membership_call(org, api_key, "SetObjection", request), as_json)


@member_app.command("record-login")
def member_record_login(
    member_id: str,
    kind: Annotated[str, typer.Option(help="login, logout or aborted")] = "login",
    device: Annotated[str, typer.Option()] = "",
    ip: Annotated[str, typer.Option()] = "",
    country: Annotated[str, typer.Option()] = "",
    city: Annotated[str, typer.Option()] = "",
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a session of a member in the login log (the last 10 are kept)."""
    request = membership_pb2.RecordLoginRequest(
        member_id=member_id, kind=kind, device=device, ip=ip, country=country, city=city
    )
    _show_logins([membership_call(org, api_key, "RecordLogin", request)], as_json, one=True)


@member_app.command("logins")
def member_logins(
    member_id: str, org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """A member's login log, newest first."""
    entries = membership_call(
        org, api_key, "ListLogins", membership_pb2.ListLoginsRequest(member_id=member_id)
    ).entries
    _show_logins(list(entries), as_json)


def _show_logins(entries: list[Any], as_json: bool, one: bool = False) -> None:
    if as_json:
        print_json(message(entries[0]) if one else [message(e) for e in entries])
        return
    table = Table("at", "kind", "device", "ip", "country", "city")
    for e in entries:
        table.add_row(e.at.ToJsonString(), e.kind, e.device, e.ip, e.country, e.city)
    Console().print(table)


@member_app.command("export")
def member_export(member_id: str, org: OrgOpt = None, api_key: KeyOpt = None) -> None:
    """Everything every service holds of a member, as one JSON document (access right)."""
    session = org_session(org, api_key)
    stores: dict[str, Any] = {}
    for service in STORES:
        with session.channel(service) as channel:
            stub = data_subject_pb2_grpc.DataSubjectStoreStub(channel)
            receipt = rpc(
                lambda stub=stub: session.call(
                    stub.Export, data_subject_pb2.SubjectRequest(subject_id=member_id)
                )
            )
        stores[service] = json.loads(receipt.document_json)
    print_json(
        {"subject_id": member_id, "exported_at": datetime.now(UTC).isoformat(), "stores": stores}
    )


@member_app.command("erase")
def member_erase(
    member_id: str,
    attestation: erasure.AttestationOpt = erasure.ATTESTED,
    method: erasure.MethodOpt = erasure.ADMIN_ATTESTATION,
    timeout: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for every target to answer.")
    ] = 120.0,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Erase a member everywhere: files an erasure request with your identity check (as
    `kontingent erasure request`), waits for it to complete and prints its certificate,
    verified. Exit 3 if it has not completed in time: it goes on, and its id is printed."""
    filed = erasure.file_request(
        org,
        api_key,
        erasure_pb2.FileRequestRequest(subject_id=member_id, type="erasure"),
        method,
        attestation,
    )
    erasure.wait_completed(org, api_key, filed.request_id, timeout)
    erasure.show_certificate(org, api_key, filed.request_id, as_json)


@dev_app.command("up")
def dev_up(
    data_dir: Annotated[Path, typer.Option(envvar="KONTINGENT_DATA_DIR")] = Path("data"),
) -> None:
    """Start the broker, localstripe and the four services; Ctrl-C stops them all."""
    from kontingent_cli.devstack import Stack, StackConfig

    stack = Stack(StackConfig(data_dir=data_dir, log_level="info"))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        stack.start()
        typer.echo(stack.summary())
        typer.echo(f"Ready. Logs in {stack.data_dir / 'logs'}. Ctrl-C stops everything.")
        while not stopping.wait(0.5):
            for name, proc in list(stack.processes.items()):
                if proc.poll() is not None:
                    err.print(f"[red]{name} exited with {proc.returncode}[/red]")
                    stopping.set()
    except KeyboardInterrupt:
        pass
    except (RuntimeError, TimeoutError) as exc:
        err.print(f"[red]{exc}[/red]")
        stack.stop()
        sys.exit(1)
    finally:
        typer.echo("stopping...")
        stack.stop()
