"""The erasure ledger inside the erasure service: written with the shredding of the key (on
every path), naming the member only by a keyed hash, and replayed after a restore: the stores
are asked to erase again exactly the ledger's members, and a key the restore brought back is
shredded again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from privacy.v1 import ledger_pb2, ledger_pb2_grpc
from prometheus_client import REGISTRY, CollectorRegistry
from sqlalchemy import select, update

from kontingent_cli.devstack import free_port
from services.common.grpc.auth import SCOPE_INTERNAL, Authenticator
from services.common.grpc.client import ServiceClient
from services.common.grpc.interceptor import ServiceInterceptor
from services.common.grpc.server import GrpcServer
from services.common.metrics import ServiceMetrics
from services.erasure.adapters.orm import data_keys, erasure_ledger
from services.erasure.domain.keyring import subject_hash
from services.erasure.domain.ledger import DIRECT, subject_key
from services.erasure.service_layer.replay import LedgerReplay
from tests.integration.test_erasure_pipeline_support import (
    LEDGER_KEY,
    ORG,
    TOKEN,
    Pipeline,
    pipeline,
)

__all__ = ["pipeline"]  # a fixture


class Index(ledger_pb2_grpc.SubjectIndexServicer):
    """A store's subject index, as a restored store would answer it."""

    def __init__(self) -> None:
        self.members: dict[str, list[str]] = {}

    async def ListSubjects(
        self, request: ledger_pb2.ListSubjectsRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.SubjectPage:
        ids = sorted(s for s in self.members.get(request.org_id, []) if s > request.after)
        return ledger_pb2.SubjectPage(subject_ids=ids[: request.page_size])


@pytest.fixture
async def index() -> AsyncIterator[tuple[Index, ServiceClient]]:
    async for served in _served_index("membership"):
        yield served


@pytest.fixture
async def billing_index() -> AsyncIterator[tuple[Index, ServiceClient]]:
    async for served in _served_index("billing"):
        yield served


async def _served_index(store: str) -> AsyncIterator[tuple[Index, ServiceClient]]:
    servicer = Index()
    address = f"127.0.0.1:{free_port()}"
    interceptor = ServiceInterceptor(
        Authenticator(TOKEN, _no_keys),
        {"/privacy.v1.SubjectIndex/ListSubjects": frozenset({SCOPE_INTERNAL})},
        ServiceMetrics("test_index", registry=CollectorRegistry()),
    )
    server = GrpcServer(
        address,
        lambda s: ledger_pb2_grpc.add_SubjectIndexServicer_to_server(servicer, s),
        [],
        interceptor,
    )
    await server.start()
    client = ServiceClient(f"{store}-index", address, TOKEN, deadline_s=5.0)
    yield servicer, client
    await client.close()
    await server.stop(0)


async def _no_keys(api_key: str) -> None:
    return None


async def _ledger_rows(p: Pipeline) -> list[dict[str, object]]:
    async with p.db.sessions() as session:
        rows = (await session.execute(select(erasure_ledger))).all()
    return [dict(r._mapping) for r in rows]


def _replay(p: Pipeline, *indexes: ServiceClient) -> LedgerReplay:
    return LedgerReplay(p.db, p.keyring, p.clients, list(indexes))


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_completed_erasure_leaves_one_ledger_entry_with_no_plain_id(
    pipeline: Pipeline,
) -> None:
    member = await pipeline.member()
    view = await pipeline.file_and_verify(member)
    await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")

    rows = await _ledger_rows(pipeline)
    assert len(rows) == 1
    entry = rows[0]
    assert entry["org_id"] == ORG
    assert entry["subject_key"] == subject_key(LEDGER_KEY, ORG, member)
    assert entry["scope"] == f"request:{view.request.id}"
    assert entry["targets"] == "billing confirmation membership notify sendgrid stripe twilio"
    # Nothing in the entry is the member's id, nor the keyring's (unkeyed) hash of it.
    raw = repr(rows).encode()
    assert member.encode() not in raw
    assert member.replace("-", "").encode() not in raw
    assert subject_hash(member).encode() not in raw


async def test_the_direct_path_is_in_the_ledger_too_and_once(pipeline: Pipeline) -> None:
    member = await pipeline.member()
    await pipeline.keyring.shred(member, ORG, DIRECT)
    await pipeline.keyring.shred(member, None, DIRECT)  # again: already shredded, no entry

    rows = await _ledger_rows(pipeline)
    assert [(r["scope"], r["subject_key"]) for r in rows] == [
        (DIRECT, subject_key(LEDGER_KEY, ORG, member))
    ]


async def test_replay_erases_the_ledger_members_again_and_reshreds_a_restored_key(
    pipeline: Pipeline, index: tuple[Index, ServiceClient]
) -> None:
    servicer, client = index
    erased, kept = await pipeline.member(), await pipeline.member()
    async with pipeline.db.sessions() as session:
        before = (
            await session.execute(
                select(data_keys).where(data_keys.c.subject_hash == subject_hash(erased))
            )
        ).one()
    view = await pipeline.file_and_verify(erased)
    await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")
    for store in pipeline.stores.values():
        store.calls.clear()
    # A restore from before the erasure: membership lists the member again, and the key row
    # is back as it was.
    servicer.members[ORG] = [kept, erased]
    async with pipeline.db.transaction() as session:
        await session.execute(
            update(data_keys)
            .where(data_keys.c.subject_hash == subject_hash(erased))
            .values(wrapped_key=before.wrapped_key, shredded_at=None)
        )
    reshredded = _sample("erasure_ledger_replay_keys_reshredded_total", {})

    counts = await _replay(pipeline, client).replay()

    assert counts.entries == 1 and counts.subjects_found == 1
    assert counts.keys_reshredded == 1
    assert _sample("erasure_ledger_replay_keys_reshredded_total", {}) == reshredded + 1
    # The stand-in stores answer every Erase with what they removed: each counts it erased.
    assert counts.stores == {
        name: {"re_erased": 1, "already_gone": 0} for name in ("membership", "billing", "notify")
    }
    for store in pipeline.stores.values():
        assert store.calls == [(erased, True)]  # the key still live for them: shredded last
    state = await pipeline.keyring.state(erased)
    assert state is not None and state.shredded_at is not None
    assert (await pipeline.keyring.state(kept)).shredded_at is None  # type: ignore[union-attr]

    again = await _replay(pipeline, client).replay()  # harmless twice

    assert again.subjects_found == 1 and again.keys_reshredded == 0
    assert all(store.calls[-1] == (erased, False) for store in pipeline.stores.values())
    assert _sample("erasure_ledger_replays_total", {"outcome": "done"}) >= 2


async def test_replay_finds_a_member_only_another_store_holds_and_erases_her_once(
    pipeline: Pipeline,
    index: tuple[Index, ServiceClient],
    billing_index: tuple[Index, ServiceClient],
) -> None:
    """Membership's backup predates her; billing's (and notify's) came back with her rows."""
    (membership, membership_client), (billing, billing_client) = index, billing_index
    erased, kept = await pipeline.member(), await pipeline.member()
    view = await pipeline.file_and_verify(erased)
    await pipeline.drive(view.request.id, lambda v: v.request.status == "completed")
    for store in pipeline.stores.values():
        store.calls.clear()
    membership.members[ORG] = [kept]
    billing.members[ORG] = [kept, erased]

    # Billing's index twice, as billing and notify both listing her: erased again once.
    counts = await _replay(pipeline, membership_client, billing_client, billing_client).replay()

    assert counts.subjects_found == 1
    for store in pipeline.stores.values():
        assert [subject for subject, _ in store.calls] == [erased]
