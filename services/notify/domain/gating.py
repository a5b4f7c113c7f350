"""Purpose gating: may this message go to this member? Decided before anything is rendered or
handed to a provider, from the flags membership serves with the contact details.

- transactional (contract or law): always, restricted or not.
- service: not while processing is restricted (GDPR art. 18); not if the member objects to
  the message's purpose (art. 21).
- marketing: only with the member's current consent to the purpose; never while restricted,
  never if the member objects to the purpose or to marketing as a whole (art. 21(3)).

When more than one reason applies, the first in that order is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.notify.domain.messages import MARKETING, SERVICE, TRANSACTIONAL, MessageKind


class Withheld(StrEnum):
    RESTRICTED = "restricted"
    OBJECTION = "objection"
    NO_CONSENT = "no-consent"


@dataclass(frozen=True)
class MemberFlags:
    restricted: bool = False
    objections: frozenset[str] = frozenset()
    consents: frozenset[str] = frozenset()  # purposes consented to now


def withheld_because(kind: MessageKind, member: MemberFlags) -> Withheld | None:
    """None when the message may be sent; otherwise why not."""
    if kind.message_class == TRANSACTIONAL:
        return None
    if kind.message_class not in (SERVICE, MARKETING):  # fail closed on anything unknown
        raise ValueError(f"message class {kind.message_class!r}")
    if member.restricted:
        return Withheld.RESTRICTED
    marketing = kind.message_class == MARKETING
    if kind.purpose in member.objections or (marketing and MARKETING in member.objections):
        return Withheld.OBJECTION
    if marketing and kind.purpose not in member.consents:
        return Withheld.NO_CONSENT
    return None
