"""What a target answered (or why it could not), as stored on its task and summed up in the
certificate. Provider ids travel here from a store to the sub-processor that holds them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from services.erasure.domain.certificate import action_of


class TargetFailure(Exception):
    """A target did not answer yet; `code` is what the task and the metric record (never
    personal data). The task is retried later."""

    def __init__(self, code: str) -> None:
        self.code = code[:200]
        super().__init__(self.code)


class AwaitingConfirmation(Exception):
    """The target accepted the work but has not confirmed it yet. `progress` (never personal
    data: e.g. the vendor's job id) is kept on the task, shown in the request's status, and
    handed back to the next attempt, which polls instead of asking again."""

    def __init__(self, progress: TargetResult) -> None:
        self.progress = progress
        super().__init__(progress.note)


@dataclass(frozen=True)
class TargetResult:
    removed: list[dict[str, Any]] = field(default_factory=list)  # category, description, count
    # category, description, legal_basis, delete_after, count, pseudonymised
    kept: list[dict[str, Any]] = field(default_factory=list)
    provider_records: dict[str, list[str]] = field(default_factory=dict)
    # GDPR art. 19: recipient, told (bool), how, at; see service_layer/targets.py.
    recipients: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    action: str = ""  # the certificate's headline; derived from removed/kept when empty

    def headline(self) -> str:
        return self.action or action_of(self.removed, self.kept)

    def summary(self) -> str:
        counts = ", ".join(f"{r['category']} {r.get('count', 1)}" for r in self.removed)
        kept = ", ".join(f"{k['category']} until {k['delete_after']}" for k in self.kept)
        parts = [self.headline(), counts and f"removed: {counts}", kept and f"kept: {kept}"]
        return "; ".join(p for p in [*parts, self.note] if p)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TargetResult:
        return cls(**json.loads(text))

    def certificate_body(self, target: str, at: str) -> dict[str, Any]:
        """The certificate entry: what was done, counted; provider ids are left out."""
        return {
            "target": target,
            "action": self.headline(),
            "removed": [
                {"category": r["category"], "count": r.get("count", 1)} for r in self.removed
            ],
            "kept": [
                {
                    "category": k["category"],
                    "count": k.get("count", 1),
                    "legal_basis": k["legal_basis"],
                    "delete_after": k["delete_after"],
                    "pseudonymised": bool(k.get("pseudonymised")),
                }
                for k in self.kept
            ],
            "recipients_told": self.recipients,
            "note": self.note,
            "at": at,
        }
