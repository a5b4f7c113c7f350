"""`kontingent erasure ...`: file a data-subject request for a member (an erasure, a
restriction, an objection, access or portability), follow it, print and check an erasure's
certificate (the hash chain is recomputed here, not taken on the service's word), and list the
sub-processors."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from privacy.v1 import requests_pb2 as pb
from privacy.v1 import requests_pb2_grpc, subprocessors_pb2, subprocessors_pb2_grpc
from rich.console import Console
from rich.table import Table

from kontingent_cli.erasure_replay import erasure_replay
from kontingent_cli.output import (
    JsonOpt,
    KeyOpt,
    OrgOpt,
    err,
    fail,
    message,
    org_session,
    print_json,
    rpc,
)
from services.erasure.domain.certificate import Entry, verify

erasure_app = typer.Typer(
    help="Data-subject requests (erasure, restriction, objection, access, portability): file, "
    "follow, prove; and the sub-processors.",
    no_args_is_help=True,
)
REQUEST_TYPES = ("erasure", "restriction", "objection", "access", "portability")
POLL_S = 0.25


def requests_call(org: str | None, api_key: str | None, method: str, request: Any) -> Any:
    session = org_session(org, api_key)
    with session.channel("erasure") as channel:
        stub = requests_pb2_grpc.PrivacyRequestsStub(channel)
        return rpc(lambda: session.call(getattr(stub, method), request))


def _show(request: pb.PrivacyRequest, as_json: bool) -> None:
    if as_json:
        print_json(message(request))
        return
    console = Console()
    summary = Table(show_header=False)
    due = request.due_date + (
        f" (extended {request.extended_months} month(s): {request.extension_reason})"
        if request.extended_months
        else ""
    )
    for label, value in [
        ("request id", request.request_id),
        ("member", request.subject_id),
        ("type", f"{request.type} ({request.purpose})" if request.purpose else request.type),
        ("status", request.status),
        ("filed by", request.filed_by),
        ("received", request.received_at.ToJsonString()),
        ("due", due),
        (
            "identity",
            f"{request.identity_method} by {request.identity_verified_by}"
            if request.identity_method
            else "not verified",
        ),
    ]:
        summary.add_row(label, value)
    console.print(summary)
    if request.targets:
        targets = Table("target", "status", "attempts", "last error", "outcome")
        for t in request.targets:
            targets.add_row(t.target, t.status, str(t.attempts), t.last_error, t.outcome)
        console.print(targets)
    history = Table("when", "status", "by", "note")
    for h in request.history:
        history.add_row(h.at.ToJsonString(), h.status, h.actor, h.note)
    console.print(history)
    if request.archive_password:
        console.print(
            f"archive password: [bold]{request.archive_password}[/bold]\n"
            "Shown this once. Give it to the member yourself, the way you checked their "
            "identity (in person, by phone); never by email: the download link goes there."
        )


AttestationOpt = Annotated[
    str, typer.Option(help="How you, the admin, checked it is the member asking.")
]
MethodOpt = Annotated[str, typer.Option(help="e.g. admin-attestation, bankid, in-person")]
ATTESTED, ADMIN_ATTESTATION = "identity checked by the org's admin", "admin-attestation"


def _verify(
    org: str | None, api_key: str | None, request_id: str, method: str, attestation: str
) -> pb.PrivacyRequest:
    return requests_call(
        org,
        api_key,
        "VerifyIdentity",
        pb.VerifyIdentityRequest(request_id=request_id, method=method, attestation=attestation),
    )


@erasure_app.command("request")
def erasure_request(
    member: Annotated[str, typer.Option("--member", help="The member asking.")],
    type_: Annotated[
        str,
        typer.Option(
            "--type",
            help="erasure, restriction (restrict processing), objection (needs --purpose), "
            "access or portability (an encrypted archive; its password is printed once)",
        ),
    ] = "erasure",
    purpose: Annotated[
        str, typer.Option(help="An objection's purpose key, e.g. marketing, newsletter.")
    ] = "",
    attestation: AttestationOpt = ATTESTED,
    method: MethodOpt = ADMIN_ATTESTATION,
    verify_now: Annotated[
        bool,
        typer.Option(
            "--verify/--no-verify",
            help="Record your identity check now (default), or only file the request and "
            "verify it later with `erasure verify`.",
        ),
    ] = True,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """File a request for a member and record your identity check: it starts at once (a
    restriction or objection is set at membership; an erasure reaches every target; access
    and portability email the member a one-time link to an archive whose password this
    prints, once)."""
    if type_ not in REQUEST_TYPES:
        raise typer.BadParameter(f"one of {', '.join(REQUEST_TYPES)}", param_hint="--type")
    request = pb.FileRequestRequest(subject_id=member, type=type_, purpose=purpose)
    _show(file_request(org, api_key, request, method, attestation, verify_now), as_json)


def file_request(
    org: str | None,
    api_key: str | None,
    request: pb.FileRequestRequest,
    method: str,
    attestation: str,
    verify_now: bool = True,
) -> pb.PrivacyRequest:
    """File a request and, unless told not to, record the admin's identity check (it starts
    at once)."""
    filed = requests_call(org, api_key, "FileRequest", request)
    if verify_now:
        filed = _verify(org, api_key, filed.request_id, method, attestation)
    return filed


@erasure_app.command("verify")
def erasure_verify(
    request_id: str,
    attestation: AttestationOpt = ATTESTED,
    method: MethodOpt = ADMIN_ATTESTATION,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record your identity check of a request filed earlier: it starts at once."""
    _show(_verify(org, api_key, request_id, method, attestation), as_json)


@erasure_app.command("extend")
def erasure_extend(
    request_id: str,
    months: Annotated[int, typer.Option(help="1 or 2 more months, once.")],
    reason: Annotated[str, typer.Option(help="Why: the member is told.")],
    member_told: Annotated[
        bool,
        typer.Option("--member-told", help="Confirm the member was told of the extension and why."),
    ] = False,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Extend an open request's deadline, once, within its first month."""
    request = pb.ExtendDeadlineRequest(
        request_id=request_id, months=months, reason=reason, member_told=member_told
    )
    _show(requests_call(org, api_key, "ExtendDeadline", request), as_json)


@erasure_app.command("status")
def erasure_status(
    request_id: str, org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """A request's status, its targets' progress and its history."""
    _show(requests_call(org, api_key, "GetRequest", pb.RequestRef(request_id=request_id)), as_json)


def wait_completed(
    org: str | None, api_key: str | None, request_id: str, timeout_s: float
) -> pb.PrivacyRequest:
    """The request once completed; one still open after `timeout_s` ends the command, naming
    what it waits for and how to follow it (it goes on: a target that fails is retried)."""
    deadline = time.monotonic() + timeout_s
    while True:
        request = requests_call(org, api_key, "GetRequest", pb.RequestRef(request_id=request_id))
        if request.status == "completed":
            return request
        if time.monotonic() >= deadline:
            waiting = ", ".join(
                f"{t.target} ({t.status}{', ' + t.last_error if t.last_error else ''})"
                for t in request.targets
                if t.status != "done"
            )
            raise fail(
                f"erasure request {request_id} has not completed within {timeout_s:g} s "
                f"(status {request.status}{'; waiting for ' + waiting if waiting else ''}). "
                f"It goes on: follow it with `kontingent erasure status {request_id}`.",
                3,
            )
        time.sleep(POLL_S)


def certificate_problems(request_id: str, entries: list[Entry], head_hash: str) -> list[str]:
    """The chain's problems, and any entry issued for another request: a whole certificate
    of another erasure chains just as well, so each entry must name this request."""
    problems = verify(entries, head_hash)
    for seq, entry in enumerate(entries):
        try:
            named = json.loads(entry.canonical_json).get("request_id")
        except ValueError:
            continue  # verify reported it
        if named != request_id:
            problems.append(f"entry {seq}: issued for request {named}, not {request_id}")
    return problems


@erasure_app.command("certificate")
def erasure_certificate(
    request_id: str, org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Print a completed erasure's certificate and verify its hash chain (exit 1 if broken)."""
    show_certificate(org, api_key, request_id, as_json)


def show_certificate(org: str | None, api_key: str | None, request_id: str, as_json: bool) -> None:
    """Print a completed erasure's certificate, verified here; a broken chain ends the
    command with exit 1."""
    found = requests_call(org, api_key, "GetCertificate", pb.RequestRef(request_id=request_id))
    entries = [Entry(e.canonical_json, e.hash) for e in found.entries]
    problems = certificate_problems(request_id, entries, found.head_hash)
    bodies = [json.loads(e.canonical_json) for e in entries]
    if as_json:
        print_json(
            {
                "request_id": found.request_id,
                "head_hash": found.head_hash,
                "verified": not problems,
                "problems": problems,
                "entries": [
                    {"entry": b, "hash": e.hash} for b, e in zip(bodies, entries, strict=True)
                ],
            }
        )
    else:
        table = Table(
            "#",
            "target",
            "action",
            "removed",
            "kept (basis, until)",
            "recipients told (art. 19)",
            "when",
            "hash",
        )
        for body, entry in zip(bodies, entries, strict=True):
            table.add_row(
                str(body.get("seq")),
                body.get("target", ""),
                body.get("action", ""),
                ", ".join(f"{r['category']} {r['count']}" for r in body.get("removed", [])),
                ", ".join(
                    f"{k['category']} {k['count']} ({k['legal_basis']}, {k['delete_after']})"
                    for k in body.get("kept", [])
                ),
                "; ".join(
                    f"{r['recipient']}: {r['how'] if r['told'] else 'NOT told, ' + r['how']}"
                    f" ({r['at']})"
                    for r in body.get("recipients_told", [])
                ),
                body.get("at", ""),
                entry.hash[:12],
            )
        Console().print(table)
    if problems:
        for problem in problems:
            err.print(f"[red]{problem}[/red]")
        raise fail("the certificate does NOT verify: it was changed after it was issued")
    if not as_json:
        Console().print(f"verified: {len(entries)} entries chained, head {found.head_hash}")


@erasure_app.command("subprocessors")
def erasure_subprocessors(
    org: OrgOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """The sub-processors members' data goes to: purpose, location, transfer basis, DPA."""
    session = org_session(org, api_key)
    with session.channel("erasure") as channel:
        stub = subprocessors_pb2_grpc.SubprocessorsStub(channel)
        found = rpc(
            lambda: session.call(
                stub.ListSubprocessors, subprocessors_pb2.ListSubprocessorsRequest()
            )
        )
    if as_json:
        print_json(message(found))
        return
    table = Table(
        "name",
        "purpose",
        "data",
        "location",
        "transfer basis",
        "DPA",
        "erasure target",
        title=f"sub-processors, version {found.version} (changed {found.last_changed})",
    )
    for s in found.subprocessors:
        table.add_row(
            s.name,
            s.purpose,
            ", ".join(s.data_categories),
            s.location,
            s.transfer_basis,
            s.dpa_url,
            s.erasure_target,
        )
    Console().print(table)


erasure_app.command("replay")(erasure_replay)
