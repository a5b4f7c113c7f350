"""The erasure ledger's rules. An entry names the member only by a keyed hash of
(org, subject id): the blind-index mechanism of services/common/sealing.py under the ledger's
own key. Without that key an entry links to nobody; with it, the erasure service can tell
whether a subject id it is shown (by a store, after a restore) was erased, but can never
list who was."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.common.sealing import blind_index

# Why a key was shredded: a tracked request, Keyring.ShredKey called directly (internal token
# only), or a replay that found the key live again (a restored keyring).
DIRECT = "direct"
REPLAY = "replay"


def request_scope(request_id: str) -> str:
    return f"request:{request_id}"


def subject_key(ledger_key: bytes, org_id: str, subject_id: str) -> str:
    return blind_index(ledger_key, org_id, subject_id)


@dataclass(frozen=True)
class LedgerEntry:
    org_id: str
    subject_key: str
    scope: str
    targets: tuple[str, ...]  # the targets erased before the key
    erased_at: datetime

    def row(self) -> dict[str, object]:
        return {
            "org_id": self.org_id,
            "subject_key": self.subject_key,
            "scope": self.scope,
            "targets": " ".join(self.targets),
            "erased_at": self.erased_at,
        }
