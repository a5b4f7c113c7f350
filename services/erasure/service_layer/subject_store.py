"""What the erasure service itself holds of a subject so far: the data key."""

from __future__ import annotations

from typing import Any

from services.common.grpc.data_subject import ErasureOutcome, Kept
from services.common.timestamps import iso
from services.erasure.service_layer.keyring import Keyring


class KeyringSubjectStore:
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def export(self, org_id: str, subject_id: str) -> dict[str, Any]:
        state = await self.keyring.state(subject_id)
        if state is None or state.org_id != org_id:
            return {"data_key": None}
        return {
            "data_key": {
                "created_at": iso(state.created_at),
                "shredded_at": iso(state.shredded_at),
                "purpose": "sealing this member's personal data at rest",
            }
        }

    async def erase(self, org_id: str, subject_id: str) -> ErasureOutcome:
        state = await self.keyring.state(subject_id)
        if state is None or state.org_id != org_id or state.shredded_at is not None:
            return ErasureOutcome()
        # The key must outlive the other stores' erasure, which may still need to read sealed
        # data (e.g. to ask a sub-processor to delete it); it is shredded last via ShredKey.
        return ErasureOutcome(
            kept=[
                Kept(
                    category="data-key",
                    description="per-member data key, wrapped by the KEK",
                    legal_basis=(
                        "needed until every store has erased; shredded last (Keyring.ShredKey)"
                    ),
                    delete_after="on completion of this erasure",
                )
            ]
        )
