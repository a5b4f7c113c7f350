"""After a restore from a backup taken before an erasure, `kontingent erasure replay` erases
the member again in every store (and is harmless to run twice), whichever stores were
restored: billing's and notify's rows of her are found even when membership holds nothing of
her; an import never brings an erased member back, even after membership is restored from a
backup older than her (the replay puts her address's tombstone back), while a new sign-up with
the same address is a new person."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

from kontingent_cli.devstack import Stack
from tests.e2e.helpers import (
    cli,
    cli_json,
    create_org,
    database_bytes,
    erase,
    export_once_invoiced,
    private_stack,
    register,
    wait_until,
)

STORES = ["membership", "billing", "notify"]
EMAIL = "tove.replay@example.no"


def _restart_with(
    stack: Stack, files: dict[str, bytes] | None, stores: list[str] = STORES
) -> dict[str, bytes]:
    """Stops the stores, copies their SQLite files (database, -wal, -shm) or puts `files`
    back in their place, and starts them again; returns the files as they were."""
    stack.stop_processes(stores)
    data = Path(stack.data_dir)
    current = {f.name: f.read_bytes() for s in stores for f in sorted(data.glob(f"{s}.db*"))}
    if files is not None:
        for name in current:
            (data / name).unlink()
        for name, content in files.items():
            (data / name).write_bytes(content)
    for service in stores:
        stack.start_service(service)
    for service in stores:
        stack.wait_serving(service, deadline=time.monotonic() + 60)
    return current


def _snapshot(stack: Stack, store: str, directory: Path) -> dict[str, bytes]:
    """A consistent copy of a running store's SQLite database (its backup API), as one file."""
    copy = directory / f"{store}.snapshot"
    with (
        closing(sqlite3.connect(Path(stack.data_dir) / f"{store}.db")) as source,
        closing(sqlite3.connect(copy)) as target,
    ):
        source.backup(target)
    return {f"{store}.db": copy.read_bytes()}


def test_replay_after_a_restore_erases_the_member_again_and_import_never_recreates(
    tmp_path: Path,
) -> None:
    with private_stack(tmp_path / "stack") as stack:
        org = create_org(stack, "Replay Rosenlag", "960000005")
        before_her = _snapshot(stack, "membership", tmp_path)
        member = register(stack, org, "Tove Replay", EMAIL, "+4793000001")["member_id"]
        export_once_invoiced(stack, org, member)
        # Notify logs her welcome on its own time: the backup must hold it.
        wait_until(
            lambda: cli_json(stack, "member", "export", member, "--org", org["org_id"])["stores"][
                "notify"
            ]["messages"],
            what="her welcome email logged at notify",
        )
        backup = _restart_with(stack, None)  # the backup, taken before the erasure

        erase(stack, org["org_id"], member)
        # Billing and notify restored, membership not: it holds nothing of her, as a backup
        # of it from before she joined would not.
        restored = ["billing", "notify"]
        _restart_with(
            stack, {n: b for n, b in backup.items() if n.split(".")[0] in restored}, restored
        )
        assert cli_json(stack, "member", "export", member, "--org", org["org_id"])["stores"][
            "billing"
        ]["invoices"]  # back from the backup

        found = cli_json(stack, "erasure", "replay")
        assert found["entries"] == 1 and found["subjects_found"] == 1
        by_store = {s["store"]: s for s in found["stores"]}
        assert by_store["membership"].get("already_gone") == 1
        assert by_store["billing"].get("re_erased") == 1
        assert by_store["notify"].get("re_erased") == 1  # her welcome email's log
        exported = cli_json(stack, "member", "export", member, "--org", org["org_id"])
        assert exported["stores"]["billing"]["invoices"] == []
        assert exported["stores"]["notify"]["messages"] == []

        _restart_with(stack, backup)  # every store restored in place
        assert member.encode() in database_bytes(stack)["membership"]  # back from the backup

        report = cli_json(stack, "erasure", "replay")
        assert report["entries"] == 1 and report["subjects_found"] == 1
        by_store = {s["store"]: s for s in report["stores"]}
        assert by_store["membership"].get("re_erased") == 1
        assert by_store["billing"].get("re_erased") == 1  # the invoice pseudonymised again
        exported = cli_json(stack, "member", "export", member, "--org", org["org_id"])
        assert exported["stores"]["membership"] == {"member": None}
        assert exported["stores"]["billing"]["invoices"] == []

        again = cli_json(stack, "erasure", "replay")  # harmless: nobody left to find
        assert again["entries"] == 1 and again.get("subjects_found", 0) == 0
        assert again.get("tombstones_restored", 0) == 0

        # Membership restored from before she joined: neither she nor her tombstone is there.
        _restart_with(stack, before_her, ["membership"])
        restored = cli_json(stack, "erasure", "replay")
        assert restored.get("subjects_found", 0) == 0 and restored["tombstones_restored"] == 1

        members_csv = tmp_path / "members.csv"
        members_csv.write_text(f"name,email,phone\nTove Replay,{EMAIL},+4793000001\n")
        imported = cli(stack, "member", "import", str(members_csv), "--org", org["org_id"])
        assert imported.returncode == 1, imported.stderr
        assert imported.stdout.splitlines()[0] == (
            "line 2: email: erased at the member's request; not re-imported"
        )
        signed_up = register(stack, org, "Tove Replay", EMAIL, "+4793000001")["member_id"]
        assert signed_up and signed_up != member  # a new person, by her own choice
