"""The member's erasure-confirmed email, asked for by the erasure pipeline before any store
forgets the member: queued (the address fetched from membership now, while it still knows
it; the content rendered and sealed with the member's key) once per request, then sent by the
dispatcher like any message. The pipeline asks again until it is sent, and only then lets
notify's Erase delete the member's messages, this one included."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, select

from services.common.clock import OSLO
from services.common.db.engine import Database
from services.notify.adapters.membership_directory import Directory
from services.notify.adapters.orm import messages
from services.notify.domain.content import CONTENT, EMAIL
from services.notify.domain.messages import (
    FAILED,
    QUEUED,
    SENDING,
    TO_DISPATCH,
    kind_of,
    message_id,
)
from services.notify.service_layer.messages_on_events import erasure_confirmed_values
from services.notify.service_layer.queueing import DUPLICATE, Intent, MessageQueue

TEMPLATE = "erasure-confirmed"
SENT_STATE = "sent"
PENDING_STATE = "pending"
NOT_SENT_STATE = "not-sent"


@dataclass(frozen=True)
class Confirmation:
    state: str  # SENT_STATE, PENDING_STATE or NOT_SENT_STATE
    reason: str
    message_id: str


def state_of(status: str) -> Confirmation:
    """A logged message's state; every status past sending means the provider took it."""
    if status in (*TO_DISPATCH, SENDING):
        return Confirmation(PENDING_STATE, status, "")
    if status == FAILED:
        return Confirmation(NOT_SENT_STATE, FAILED, "")
    return Confirmation(SENT_STATE, status, "")


_STATUS = select(messages.c.status).where(messages.c.id == bindparam("b_id"))


class ErasureConfirmations:
    def __init__(
        self,
        database: Database,
        directory: Directory,
        queue: MessageQueue,
        wake_dispatcher: Callable[[], None],
        *,
        wait_s: float = 2.0,
        poll_s: float = 0.05,
    ) -> None:
        self.database = database
        self.directory = directory
        self.queue = queue
        self.wake_dispatcher = wake_dispatcher
        self.wait_s = wait_s
        self.poll_s = poll_s
        self.kind = kind_of(TEMPLATE)

    async def _status(self, mid: str) -> str | None:
        # Polled while the dispatcher sends: a read by key, on the loop on SQLite.
        rows = await self.database.read(_STATUS, {"b_id": mid})
        return str(rows[0].status) if rows else None

    async def confirm(self, org_id: str, member_id: str, request_id: str) -> Confirmation:
        mid = message_id(request_id, TEMPLATE, EMAIL)
        status = await self._status(mid)
        if status is None:
            contact = await self.directory.contact(org_id, member_id)
            today = datetime.now(UTC).astimezone(OSLO).date().isoformat()
            async with self.database.transaction() as session:
                queued = await self.queue.queue(
                    session,
                    Intent(
                        org_id=org_id,
                        member_id=member_id,
                        template=TEMPLATE,
                        channel=EMAIL,
                        kind=self.kind,
                        legal_basis=CONTENT[TEMPLATE].legal_basis,
                        source_id=request_id,
                        values=erasure_confirmed_values(request_id, today),
                    ),
                    contact,
                )
            if queued not in (QUEUED, DUPLICATE):
                # Withheld (no address, the member already gone): nothing is logged, so a
                # repeated call comes to the same answer.
                return Confirmation(NOT_SENT_STATE, queued, mid)
            self.wake_dispatcher()
            status = QUEUED
        # The dispatcher usually sends within moments: waiting here saves the pipeline a
        # retry with backoff.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        found = state_of(status)
        while found.state == PENDING_STATE and loop.time() < deadline:
            await asyncio.sleep(self.poll_s)
            found = state_of(await self._status(mid) or FAILED)
        return Confirmation(found.state, found.reason, mid)
