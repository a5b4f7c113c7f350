"""One claimed message and what became of it, the policy, and the retry decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Row

from services.notify.domain import delivery
from services.notify.domain.delivery import TIMEOUT, ProviderFailure
from services.notify.domain.messages import FAILED, RETRY, UNKNOWN


@dataclass(frozen=True)
class DispatchPolicy:
    max_attempts: int = 20  # NotifySettings.dispatch_max_attempts
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 900.0
    batch_size: int = 200
    poll_s: float = 1.0
    stale_sending_s: float = 300.0
    # Outcomes are written in groups: a small group waits this long for more to finish
    # (a message is sent before this starts; only its record waits).
    record_linger_s: float = 0.01


@dataclass
class Attempt:
    row: Row
    was_unknown: bool  # an earlier attempt's outcome is unknown: ask before sending
    fields: dict[str, str] = field(default_factory=dict)
    # The outcome, filled by screening and sending:
    status: str = ""
    code: str | None = None
    provider: str | None = None
    provider_ref: str | None = None
    delay_s: float | None = None
    suppress_sms: bool = False
    fallback: dict[str, Any] | None = None

    @property
    def number(self) -> int:
        """This attempt's number, counted from 1 (the claim counted it)."""
        return int(self.row.attempts) + 1


def retry_later(attempt: Attempt, failure: ProviderFailure, policy: DispatchPolicy) -> None:
    """A failure that may pass: RETRY (or UNKNOWN if the message may have gone out) after the
    provider's Retry-After or a backoff; FAILED "gave-up" once the attempts run out."""
    if attempt.number >= policy.max_attempts:
        attempt.status, attempt.code = FAILED, delivery.GAVE_UP
        return
    unknown = attempt.was_unknown or failure.kind == TIMEOUT
    attempt.status = UNKNOWN if unknown else RETRY
    attempt.code = failure.code
    attempt.delay_s = delivery.retry_delay_s(
        attempt.number, failure.retry_after_s, policy.backoff_base_s, policy.backoff_cap_s
    )
