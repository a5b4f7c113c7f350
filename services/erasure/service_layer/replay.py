"""Re-applies the erasure ledger after a restore. The ledger names members only by a keyed
hash, and Erase needs the id, so the subject ids come from the stores themselves: every
store's SubjectIndex lists the ids it holds of each org, which are hashed here with the ledger
key and matched against that org's entries. Every store is asked, since each may be restored
from its own backup: billing's rows of a member may be back while membership's backup
predates her. The ids pass through memory only; the ledger key never leaves this service.
Each match is erased again in every store (once, whichever stores listed it) and its key
shredded. Last, every tombstone the stores' receipts named (membership's erased addresses) is
handed back, whether or not any store still lists the member: a membership restored from
before she joined holds neither her nor the tombstone that keeps an import from bringing her
back. All of it is idempotent, so a replay can run any number of times."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from membership.v1 import membership_pb2, membership_pb2_grpc
from privacy.v1 import data_subject_pb2, data_subject_pb2_grpc, ledger_pb2, ledger_pb2_grpc

from services.common.db.engine import Database
from services.common.errors import NotFound
from services.common.grpc.client import ServiceClient
from services.common.logging import get_logger
from services.erasure.adapters.ledger_repository import (
    LedgerRepository,
    record_receipt_tombstones,
)
from services.erasure.domain.ledger import REPLAY, subject_key
from services.erasure.metrics import (
    REPLAY_DURATION,
    REPLAY_KEYS_RESHREDDED,
    REPLAY_RUNS,
    REPLAY_SUBJECTS,
    REPLAY_TOMBSTONES_RESTORED,
)
from services.erasure.service_layer.keyring import Keyring

log = get_logger(__name__)
PAGE_SIZE = 1000
TOMBSTONE_BATCH = 1000  # RestoreErasedAddresses takes at most this many at once
MEMBERSHIP = "membership"
RE_ERASED, ALREADY_GONE = "re_erased", "already_gone"


@dataclass
class ReplayCounts:
    entries: int = 0
    subjects_found: int = 0
    keys_reshredded: int = 0
    tombstones_restored: int = 0
    # store -> outcome (RE_ERASED, ALREADY_GONE) -> subjects
    stores: dict[str, dict[str, int]] = field(default_factory=dict)


class LedgerReplay:
    def __init__(
        self,
        database: Database,
        keyring: Keyring,
        stores: dict[str, ServiceClient],
        indexes: list[ServiceClient],
    ) -> None:
        """`indexes`: where the subject ids come from (every store: in the service, the same
        clients as `stores`)."""
        self.database = database
        self.keyring = keyring
        self.stores = stores
        self.indexes = indexes

    async def replay(self) -> ReplayCounts:
        started = time.monotonic()
        try:
            counts = await self._replay()
        except Exception:
            REPLAY_RUNS.labels("failed").inc()
            raise
        REPLAY_RUNS.labels("done").inc()
        REPLAY_DURATION.observe(time.monotonic() - started)
        log.info(
            "erasure_ledger_replayed",
            entries=counts.entries,
            subjects_found=counts.subjects_found,
            keys_reshredded=counts.keys_reshredded,
            tombstones_restored=counts.tombstones_restored,
        )
        return counts

    async def _replay(self) -> ReplayCounts:
        async with self.database.sessions() as session:
            entries, keys_by_org = await LedgerRepository(session).subject_keys_by_org()
        counts = ReplayCounts(
            entries=entries,
            stores={name: {RE_ERASED: 0, ALREADY_GONE: 0} for name in self.stores},
        )
        for org_id, keys in sorted(keys_by_org.items()):
            found: set[str] = set()  # listed by more than one store: erased again once
            for index in self.indexes:
                async for subject_id in self._subject_ids(index, org_id):
                    if subject_id in found:
                        continue
                    if subject_key(self.keyring.ledger_key, org_id, subject_id) in keys:
                        found.add(subject_id)
                        counts.subjects_found += 1
                        await self._erase_again(org_id, subject_id, counts)
        await self._restore_tombstones(counts)
        return counts

    async def _restore_tombstones(self, counts: ReplayCounts) -> None:
        async with self.database.sessions() as session:
            by_org = await LedgerRepository(session).tombstones_by_org(MEMBERSHIP)
        client = self.stores[MEMBERSHIP]
        stub = membership_pb2_grpc.InternalDirectoryStub(client.channel)
        for org_id, tombstones in sorted(by_org.items()):
            for start in range(0, len(tombstones), TOMBSTONE_BATCH):
                reply = await client.call(
                    stub.RestoreErasedAddresses,
                    membership_pb2.RestoreErasedAddressesRequest(
                        org_id=org_id, tombstones=tombstones[start : start + TOMBSTONE_BATCH]
                    ),
                )
                counts.tombstones_restored += reply.restored
        REPLAY_TOMBSTONES_RESTORED.inc(counts.tombstones_restored)

    async def _subject_ids(self, index: ServiceClient, org_id: str) -> AsyncIterator[str]:
        stub = ledger_pb2_grpc.SubjectIndexStub(index.channel)
        after = ""
        while True:
            page = await index.call(
                stub.ListSubjects,
                ledger_pb2.ListSubjectsRequest(org_id=org_id, after=after, page_size=PAGE_SIZE),
            )
            for subject_id in page.subject_ids:
                yield subject_id
            if len(page.subject_ids) < PAGE_SIZE:
                return
            after = page.subject_ids[-1]

    async def _erase_again(self, org_id: str, subject_id: str, counts: ReplayCounts) -> None:
        """Every store first, the key last, as in the pipeline: a store may still need the key
        to read what it must erase."""
        request = data_subject_pb2.SubjectRequest(subject_id=subject_id, org_id=org_id)
        for name, client in self.stores.items():
            stub = data_subject_pb2_grpc.DataSubjectStoreStub(client.channel)
            receipt = await client.call(stub.Erase, request)
            await record_receipt_tombstones(self.database, org_id, receipt)
            outcome = (
                RE_ERASED
                if (receipt.removed or receipt.kept) and not receipt.repeat
                else ALREADY_GONE
            )
            counts.stores[name][outcome] += 1
            REPLAY_SUBJECTS.labels(name, outcome).inc()
        try:
            _, already = await self.keyring.shred(subject_id, None, REPLAY)
        except NotFound:
            return  # a keyring from before this member existed: there is no key to shred
        if not already:
            counts.keys_reshredded += 1
            REPLAY_KEYS_RESHREDDED.inc()
