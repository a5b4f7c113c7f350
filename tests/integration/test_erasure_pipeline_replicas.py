"""Two erasure runners (two replicas) on one PostgreSQL database: each task runs once at a
time under its runner's lease, and each request completes once, with one key shredding and
one ledger entry."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select

from services.common.db.engine import Database
from services.common.grpc.auth import current_tenant
from services.erasure.adapters.key_store import KeyStore
from services.erasure.adapters.orm import certificate_entries, erasure_ledger, request_history
from services.erasure.adapters.targets.sendgrid_recipient import (
    SendGridConfig,
    SendGridRecipientTarget,
)
from services.erasure.adapters.targets.twilio_messages import TwilioConfig, TwilioMessagesTarget
from services.erasure.service_layer.keyring import Keyring
from tests.integration.test_erasure_pipeline_support import (
    KEK,
    LEDGER_KEY,
    ORG,
    Pipeline,
    _runner,
    pipeline,
)

__all__ = ["pipeline"]  # a fixture


async def test_two_runners_on_one_postgresql_database_erase_each_member_once(
    pipeline: Pipeline, database_url: str
) -> None:
    if pipeline.db.is_sqlite:
        pytest.skip("one process owns a SQLite file: replicas share PostgreSQL only")
    db = Database(database_url, tenant=current_tenant)
    keyring = Keyring(KeyStore(db), KEK, LEDGER_KEY)
    sg = SendGridRecipientTarget(
        SendGridConfig(pipeline.sendgrid.api_key, pipeline.sendgrid.base_url)
    )
    tw = TwilioMessagesTarget(
        TwilioConfig(
            pipeline.twilio.account_sid, pipeline.twilio.auth_token, pipeline.twilio.base_url
        )
    )
    _, other = _runner(db, keyring, pipeline.clients, sg, tw)
    members = [await pipeline.member() for _ in range(4)]
    ids = [(await pipeline.file_and_verify(m)).request.id for m in members]

    try:
        for _ in range(300):
            await asyncio.gather(pipeline.runner.run_once(), other.run_once())
            views = [await pipeline.requests.get(ORG, i) for i in ids]
            if all(v.request.status == "completed" for v in views):
                break
        else:
            raise AssertionError("the requests never completed")
    finally:
        await tw.close()
        await db.close()

    for store in pipeline.stores.values():  # each store erased each member once, not twice
        assert Counter(subject for subject, _ in store.calls) == Counter(members)
    async with pipeline.db.sessions() as session:
        ledger = await session.scalar(select(func.count()).select_from(erasure_ledger))
        completions = (
            await session.execute(
                select(request_history.c.request_id, func.count())
                .where(request_history.c.status == "completed")
                .group_by(request_history.c.request_id)
            )
        ).all()
        entries = await session.scalar(select(func.count()).select_from(certificate_entries))
    assert ledger == len(members)
    assert sorted(completions) == sorted((i, 1) for i in ids)
    assert entries == len(ids) * len(views[0].tasks)
