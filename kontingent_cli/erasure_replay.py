"""`kontingent erasure replay`: after a database is restored from a backup, erase again every
member the erasure ledger names, in every store, and make sure their keys stay shredded.
A platform operation across every org, so it takes the platform admin token."""

from __future__ import annotations

from typing import Annotated

import typer
from privacy.v1 import ledger_pb2, ledger_pb2_grpc
from rich.console import Console
from rich.table import Table

from kontingent_cli.clients import Session, admin_token
from kontingent_cli.output import JsonOpt, fail, message, print_json, rpc


def erasure_replay(
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait: a replay lists every member of every org.")
    ] = 600.0,
    as_json: JsonOpt = False,
) -> None:
    """Re-apply every erasure in the ledger (run after restoring any service's database from a
    backup). Harmless to run again. Uses KONTINGENT_ADMIN_TOKEN, the platform admin token."""
    try:
        session = Session(admin_token())
    except LookupError as exc:
        raise fail(str(exc), 2) from None
    with session.channel("erasure") as channel:
        stub = ledger_pb2_grpc.ErasureLedgerStub(channel)
        report = rpc(
            lambda: stub.Replay(
                ledger_pb2.ReplayRequest(), timeout=timeout, metadata=session.metadata
            )
        )
    if as_json:
        print_json(message(report))
        return
    typer.echo(
        f"{report.entries} ledger entries; {report.subjects_found} erased member(s) found "
        f"again; {report.keys_reshredded} key(s) shredded again; "
        f"{report.tombstones_restored} erased address(es) put back in membership"
    )
    table = Table("store", "erased again", "already gone")
    for store in report.stores:
        table.add_row(store.store, str(store.re_erased), str(store.already_gone))
    Console().print(table)
