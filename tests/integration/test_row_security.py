"""Row-level security on PostgreSQL: every org-owned table has it, and it hides other orgs'
rows from a connection scoped to one org even when the query forgets to filter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError

from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from tests.integration.conftest import SERVICES_DIR

SERVICES = ("membership", "billing", "notify", "erasure")


@pytest.mark.parametrize("service", SERVICES)
async def test_every_org_owned_table_has_row_security(service: str, make_database_url) -> None:  # type: ignore[no-untyped-def]
    db = Database(make_database_url("postgresql", service))
    try:
        await upgrade_to_head(db, SERVICES_DIR / service / "migrations")
        async with db.engine.connect() as conn:
            org_owned = set(
                (
                    await conn.execute(
                        text(
                            "SELECT table_name FROM information_schema.columns "
                            "WHERE table_schema = 'public' AND column_name = 'org_id'"
                        )
                    )
                ).scalars()
            )
            if service == "membership":
                org_owned.add("orgs")  # owned by the org it is
            protected = {
                row.relname: row
                for row in (
                    await conn.execute(
                        text(
                            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                            "EXISTS (SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname "
                            "AND p.policyname = 'org_isolation') AS has_policy "
                            "FROM pg_class c WHERE c.relkind = 'r'"
                        )
                    )
                ).all()
            }
        assert org_owned, "each service keeps org-owned data"
        for table in org_owned:
            row = protected[table]
            assert row.relrowsecurity and row.relforcerowsecurity and row.has_policy, table
    finally:
        await db.close()


async def test_a_connection_scoped_to_one_org_sees_only_its_rows(make_database_url) -> None:  # type: ignore[no-untyped-def]
    from services.membership.adapters.orm import api_keys, orgs

    url = make_database_url("postgresql", "rls")
    service_db = Database(url)  # the service's own work: every org
    now = datetime.now(UTC)
    try:
        await upgrade_to_head(service_db, SERVICES_DIR / "membership" / "migrations")
        async with service_db.transaction() as session:
            for org, number in (("org-a", "916476507"), ("org-b", "974760673")):
                await session.execute(
                    insert(orgs).values(
                        id=org, name=org, org_number=number, language="nb", created_at=now
                    )
                )
                await session.execute(
                    insert(api_keys).values(
                        key_id=f"key-{org}",
                        org_id=org,
                        secret_hash="x",
                        scopes="admin",
                        created_at=now,
                    )
                )
        org_a = Database(url, tenant=lambda: "org-a")
        nobody = Database(url, tenant=lambda: "")
        try:
            async with org_a.sessions() as session:
                # No WHERE on the org: the policy is what keeps org-b out.
                keys = set((await session.scalars(select(api_keys.c.key_id))).all())
            assert keys == {"key-org-a"}
            with pytest.raises(DBAPIError, match="row-level security"):
                async with org_a.transaction() as session:
                    await session.execute(
                        insert(api_keys).values(
                            key_id="sneaky",
                            org_id="org-b",
                            secret_hash="x",
                            scopes="admin",
                            created_at=now,
                        )
                    )
            async with nobody.sessions() as session:
                assert (await session.scalars(select(api_keys.c.key_id))).all() == []
        finally:
            await org_a.close()
            await nobody.close()
    finally:
        await service_db.close()
