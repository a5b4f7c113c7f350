"""A member's way out of marketing: an unsubscribe link withdraws the consent it names, in
membership (where consents live, are audited and announced), and nothing else. Receipts,
invoices and other messages not resting on consent keep coming: their class never asks for a
consent (domain/gating.py)."""

from __future__ import annotations

from services.common.logging import get_logger
from services.notify.adapters.membership_directory import Directory
from services.notify.domain.unsubscribe_links import Unsubscribe, UnsubscribeLinks
from services.notify.metrics import UNSUBSCRIBES

log = get_logger(__name__)

SOURCE = "unsubscribe"


class Unsubscribing:
    def __init__(self, links: UnsubscribeLinks, directory: Directory) -> None:
        self.links = links
        self.directory = directory

    def read(self, token: str) -> Unsubscribe | None:
        request = self.links.read(token)
        if request is None:
            UNSUBSCRIBES.labels("bad-token").inc()
        return request

    async def unsubscribe(self, request: Unsubscribe) -> None:
        """Withdraws the consent (idempotent: withdrawing twice changes nothing more)."""
        withdrawn = await self.directory.withdraw_consent(
            request.org_id, request.member_id, request.purpose, SOURCE
        )
        outcome = "withdrawn" if withdrawn else "member-gone"
        UNSUBSCRIBES.labels(outcome).inc()
        log.info(
            "unsubscribed",
            message_id=request.message_id,
            purpose=request.purpose,
            channel=request.channel,
            outcome=outcome,
        )
