"""Row-level security on PostgreSQL, the backstop under the org scoping every query does.

Each org-owned table answers only rows of the org named by `app.org_id`, which the Database
sets at the start of every transaction ("*" for a service's own work; unset matches nothing).
FORCE makes it apply to the table's owner too; only superusers bypass it, so services connect
as an ordinary role.
"""

from __future__ import annotations

POLICY = "org_isolation"


def enable_org_row_security(op, table: str, column: str = "org_id") -> None:  # type: ignore[no-untyped-def]
    if op.get_bind().dialect.name != "postgresql":
        return
    rule = f"current_setting('app.org_id', true) IN ('*', {column})"
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY {POLICY} ON {table} USING ({rule}) WITH CHECK ({rule})")
