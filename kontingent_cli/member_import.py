"""`kontingent member import members.csv`: bring an existing register into Kontingent.

Every row is checked by the service first (RegisterMember with validate_only), so every bad row
is reported with its line number before anything is stored; then the valid rows are imported
in batches. An address that is already a member is skipped, so re-running an import after a
failure or a fix creates no duplicates.

Columns: name, email, phone (required); language, type, consents (separated by ";"),
guardian_name, guardian_email, guardian_phone, guardian_consent (optional); any other column
is an answer to a field of the form (--form).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import grpc
import typer
from membership.v1 import membership_pb2 as pb
from membership.v1 import membership_pb2_grpc
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from kontingent_cli.clients import DEADLINE_S, Session
from kontingent_cli.output import JsonOpt, KeyOpt, OrgOpt, err, fail, org_session, print_json

REQUIRED = ("name", "email", "phone")
GUARDIAN = ("guardian_name", "guardian_email", "guardian_phone", "guardian_consent")
OWN_COLUMNS = frozenset((*REQUIRED, "language", "type", "consents", *GUARDIAN))
YES = ("true", "yes", "ja", "1", "x")


@dataclass(frozen=True)
class Row:
    line: int
    request: pb.RegisterMemberRequest


@dataclass
class Outcome:
    imported: list[tuple[int, str]] = field(default_factory=list)  # line, member id
    already: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # line, reason

    def summary(self) -> dict[str, Any]:
        return {
            "imported": len(self.imported),
            "already_members": len(self.already),
            "rejected": len(self.rejected),
            "errors": [{"line": line, "error": reason} for line, reason in self.rejected],
        }


def read_rows(text: str, form_key: str) -> Iterator[Row]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"line 1: missing column(s) {', '.join(missing)}")
    for record in reader:
        values = {k.strip(): (v or "").strip() for k, v in record.items() if k is not None}
        request = pb.RegisterMemberRequest(
            name=values["name"],
            email=values["email"],
            phone=values["phone"],
            language=values.get("language", ""),
            form_key=form_key,
            membership_type_id=values.get("type", ""),
            consents=[c.strip() for c in values.get("consents", "").split(";") if c.strip()],
            answers={k: v for k, v in values.items() if k not in OWN_COLUMNS and v},
            source="import",
        )
        if any(values.get(c) for c in GUARDIAN):
            request.guardian.CopyFrom(
                pb.Guardian(
                    name=values.get("guardian_name", ""),
                    email=values.get("guardian_email", ""),
                    phone=values.get("guardian_phone", ""),
                    consent=values.get("guardian_consent", "").lower() in YES,
                )
            )
        # The line the row ends on, as an editor shows it (a quoted field may span lines).
        yield Row(reader.line_num, request)


class Importer:
    def __init__(self, session: Session, channel: grpc.Channel) -> None:
        self.session = session
        self.stub = membership_pb2_grpc.MembershipServiceStub(channel)

    def send(self, rows: list[Row], validate_only: bool) -> list[tuple[Row, Any]]:
        """One batch in flight at once; each answer is a Member or the RpcError."""
        futures = []
        for row in rows:
            request = pb.RegisterMemberRequest()
            request.CopyFrom(row.request)
            request.validate_only = validate_only
            futures.append(
                (
                    row,
                    self.stub.RegisterMember.future(
                        request, timeout=DEADLINE_S, metadata=self.session.metadata
                    ),
                )
            )
        answers = []
        for row, future in futures:
            try:
                answers.append((row, future.result()))
            except grpc.RpcError as exc:
                answers.append((row, exc))
        return answers


def _batches(rows: list[Row], size: int) -> Iterator[list[Row]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def run_import(session: Session, rows: list[Row], batch_size: int, dry_run: bool) -> Outcome:
    outcome = Outcome()
    with session.channel("membership") as channel, _progress() as progress:
        importer = Importer(session, channel)
        checking = progress.add_task("checking", total=len(rows))
        valid: list[Row] = []
        for batch in _batches(rows, batch_size):
            for row, answer in importer.send(batch, validate_only=True):
                if not isinstance(answer, grpc.RpcError):
                    valid.append(row)
                elif answer.code() == grpc.StatusCode.ALREADY_EXISTS:
                    outcome.already.append((row.line, answer.details() or ""))
                elif answer.code() == grpc.StatusCode.INVALID_ARGUMENT:
                    outcome.rejected.append((row.line, answer.details() or "invalid"))
                else:
                    raise fail(f"line {row.line}: {answer.code().name}: {answer.details()}")
            progress.advance(checking, len(batch))
        if dry_run:
            return outcome
        importing = progress.add_task("importing", total=len(valid))
        for batch in _batches(valid, batch_size):
            for row, answer in importer.send(batch, validate_only=False):
                if not isinstance(answer, grpc.RpcError):
                    outcome.imported.append((row.line, answer.member_id))
                elif answer.code() == grpc.StatusCode.ALREADY_EXISTS:
                    outcome.already.append((row.line, answer.details() or ""))
                elif answer.code() == grpc.StatusCode.INVALID_ARGUMENT:
                    # Valid a moment ago: the org changed its form or types meanwhile.
                    outcome.rejected.append((row.line, answer.details() or "invalid"))
                else:
                    # Rows before this one are in; re-running skips them.
                    raise fail(
                        f"line {row.line}: {answer.code().name}: {answer.details()} "
                        f"({len(outcome.imported)} imported so far; run again to resume)"
                    )
            progress.advance(importing, len(batch))
    return outcome


def member_import(
    path: Annotated[Path, typer.Argument(help="CSV with a header row, UTF-8.")],
    form: Annotated[str, typer.Option(help="The form whose fields the other columns answer.")] = "",
    batch_size: Annotated[int, typer.Option(min=1, max=500)] = 100,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row, import nothing.")
    ] = False,
    org: OrgOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import members from a CSV file: every row checked, errors by line, valid rows imported."""
    try:
        rows = list(read_rows(path.read_text(encoding="utf-8-sig"), form))
    except OSError as exc:
        raise fail(f"{path}: {exc.strerror}", 2) from None
    except (ValueError, csv.Error) as exc:
        raise fail(f"{path}: {exc}", 2) from None
    outcome = run_import(org_session(org, api_key), rows, batch_size, dry_run)
    if as_json:
        print_json(outcome.summary())
    else:
        # Plain lines, never wrapped: they are read by people and by scripts alike.
        for line, reason in outcome.rejected:
            typer.echo(f"line {line}: {reason}")
        verb = "would import" if dry_run else "imported"
        count = (
            len(rows) - len(outcome.rejected) - len(outcome.already)
            if dry_run
            else len(outcome.imported)
        )
        typer.echo(
            f"{verb} {count}, already members {len(outcome.already)}, "
            f"rejected {len(outcome.rejected)} of {len(rows)} rows"
        )
    if outcome.rejected:
        raise typer.Exit(1)
