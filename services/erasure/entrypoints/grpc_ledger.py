from __future__ import annotations

import grpc
from privacy.v1 import ledger_pb2, ledger_pb2_grpc

from services.common.timestamps import now_timestamp
from services.erasure.service_layer.replay import ALREADY_GONE, RE_ERASED, LedgerReplay


class ErasureLedgerServicer(ledger_pb2_grpc.ErasureLedgerServicer):
    def __init__(self, replay: LedgerReplay) -> None:
        self.replay = replay

    async def Replay(
        self, request: ledger_pb2.ReplayRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.ReplayReport:
        counts = await self.replay.replay()
        return ledger_pb2.ReplayReport(
            entries=counts.entries,
            subjects_found=counts.subjects_found,
            stores=[
                ledger_pb2.StoreReplay(
                    store=store, re_erased=n[RE_ERASED], already_gone=n[ALREADY_GONE]
                )
                for store, n in counts.stores.items()
            ],
            keys_reshredded=counts.keys_reshredded,
            tombstones_restored=counts.tombstones_restored,
            finished_at=now_timestamp(),
        )
