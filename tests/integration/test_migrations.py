"""Each service's migrations create its tables beside the outbox and inbox, idempotently."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, insert, inspect, select, text

from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.db.tables import outbox

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"
OWN_TABLES = {
    "membership": {"orgs", "api_keys", "members", "audit_log"},
    "billing": {
        "invoice_counters",
        "credit_note_counters",
        "invoices",
        "fee_plans",
        "billing_policies",
        "credit_notes",
        "ledger_entries",
        "stripe_customers",
        "payment_attempts",
        "stripe_events",
        "billed_members",
    },
    "notify": {"messages", "delivery_events", "suppressions", "template_overrides"},
    "erasure": {"data_keys"},
}
MECHANISM_TABLES = {"outbox", "inbox"}


async def table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


@pytest.mark.parametrize("service", sorted(OWN_TABLES))
async def test_migrations_create_the_tables_and_can_run_again(
    service: str, database_url: str
) -> None:
    db = Database(database_url)
    migrations = SERVICES_DIR / service / "migrations"
    try:
        await upgrade_to_head(db, migrations)
        tables = await table_names(db)
        assert OWN_TABLES[service] | MECHANISM_TABLES <= tables
        other_services = set().union(*(t for s, t in OWN_TABLES.items() if s != service))
        assert not tables & other_services  # each service holds only its own data

        async with db.transaction() as session:
            await session.execute(
                insert(outbox).values(
                    event_id="e-1", topic="t", key="k", value=b"v", created_at=datetime.now(UTC)
                )
            )
        await upgrade_to_head(db, migrations)  # a restart migrates again: harmless

        assert await table_names(db) == tables
        async with db.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(outbox)) == 1
            versions = await session.execute(text("SELECT version_num FROM alembic_version"))
            head = ScriptDirectory(str(migrations)).get_current_head()
            assert [row[0] for row in versions] == [head]
    finally:
        await db.close()
