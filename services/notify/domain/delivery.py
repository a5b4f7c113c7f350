"""What a provider call can come to, and when to try again. Pure: no I/O.

- accepted: the provider took the message (its id is kept).
- transient: it certainly did not take it (429, 5xx, no connection): try again later, at
  the provider's Retry-After when it gave one, else after a backoff.
- timeout: the request went out and no answer came: the outcome is unknown, and the next
  attempt first asks the provider whether the message went out.
- permanent: it will never take it (invalid address or number, opted out): not retried.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.backoff import backoff_s

TRANSIENT = "transient"
TIMEOUT = "timeout"
PERMANENT = "permanent"

# last_error codes of our own (the providers' codes are kept as they come).
MEMBER_ERASED = "member-erased"
GAVE_UP = "gave-up"
SUPPRESSED = "suppressed"
NO_FALLBACK_ADDRESS = "no-email-for-fallback"
TWILIO_OPTED_OUT = 21610


class ProviderFailure(Exception):
    """A provider call that did not end with the message accepted. `code` is what the log
    records: a status or provider error code, never an address."""

    def __init__(self, kind: str, code: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"{kind}: {code}")
        self.kind = kind
        self.code = code
        self.retry_after_s = retry_after_s


def retry_delay_s(attempt: int, retry_after_s: float | None, base_s: float, cap_s: float) -> float:
    """Our backoff, or the provider's Retry-After when it asks for longer (never shortened by
    our cap). Never sooner than the backoff: a provider throttling for minutes with
    "Retry-After: 1" would otherwise use up a message's attempts in seconds."""
    return max(retry_after_s or 0.0, backoff_s(attempt, base_s, cap_s))


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not used by SendGrid or Twilio)."""
    if not value:
        return None
    try:
        return max(float(value.strip()), 0.0)
    except ValueError:
        return None


@dataclass(frozen=True)
class OutgoingEmail:
    message_id: str
    org_id: str
    member_id: str
    to: str
    subject: str
    text: str
    html: str | None
    purpose: str
    message_class: str


@dataclass(frozen=True)
class OutgoingSms:
    message_id: str
    org_id: str
    member_id: str
    to: str  # E.164
    body: str
