"""The erasure receipt names the provider copies a store's erasure leaves for the erasure
service to delete (stores without any leave the list empty), the tombstones it keeps, and
whether it is a repeat of a recorded receipt, which survives its record whole."""

from __future__ import annotations

import asyncio
from typing import Any

from privacy.v1 import data_subject_pb2 as pb

from services.common.grpc.auth import Principal, set_principal
from services.common.grpc.data_subject import DataSubjectServicer, ErasureOutcome, Kept, Removed


class Store:
    def __init__(self, outcome: ErasureOutcome) -> None:
        self.outcome = outcome

    async def export(self, org_id: str, subject_id: str) -> dict[str, Any]:
        return {}

    async def erase(self, org_id: str, subject_id: str) -> ErasureOutcome:
        return self.outcome


async def erase(outcome: ErasureOutcome) -> pb.ErasureReceipt:
    async def call() -> pb.ErasureReceipt:
        set_principal(Principal("service"))
        request = pb.SubjectRequest(subject_id="member-1", org_id="org-a")
        return await DataSubjectServicer("notify", Store(outcome)).Erase(request, None)  # type: ignore[arg-type]

    return await asyncio.create_task(call())  # the principal stays in the task's context


async def test_provider_ids_reach_the_receipt() -> None:
    receipt = await erase(
        ErasureOutcome(
            removed=[Removed("message-log", "messages", 2)],
            provider_records={"twilio": ["SM1"], "sendgrid": ["sg-1", "sg-2"]},
        )
    )
    assert [(r.provider, list(r.ids)) for r in receipt.provider_records] == [
        ("sendgrid", ["sg-1", "sg-2"]),
        ("twilio", ["SM1"]),
    ]


async def test_a_store_without_provider_copies_lists_none() -> None:
    assert not (await erase(ErasureOutcome())).provider_records


async def test_a_recorded_receipt_comes_back_whole_with_its_tombstones_and_repeat_mark() -> None:
    outcome = ErasureOutcome(
        removed=[Removed("member-record", "the record")],
        kept=[Kept("erased-address", "a hash", "art. 17", "never", tombstones=("ab" * 32,))],
        provider_records={"stripe": ["cus_1"]},
        repeat=True,
    )
    assert ErasureOutcome.from_json(outcome.to_json()) == outcome
    receipt = await erase(outcome)
    assert receipt.repeat and list(receipt.kept[0].tombstones) == ["ab" * 32]
