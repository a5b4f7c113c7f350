"""Renewal runs: an invoice for every active (or grace) member whose period ends within the
lead time, one per period.

Each member is invoiced in its own transaction. The unique (org, member, renews_period_end)
makes a second run at the same time harmless: its insert fails and is rolled back whole,
invoice number included.
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from services.billing.adapters.sweeps import SweepQueries
from services.billing.domain.invoices import RENEWAL
from services.billing.metrics import RENEWALS_ISSUED
from services.billing.service_layer.invoicing import InvoiceRequest, Invoicing
from services.common.clock import Clock, oslo_today
from services.common.db.engine import Database
from services.common.envelope import EventContext
from services.common.logging import get_logger

log = get_logger(__name__)

DEFAULT_LEAD_DAYS = 30


class Renewals:
    def __init__(
        self,
        database: Database,
        invoicing: Invoicing,
        lead_days: int = DEFAULT_LEAD_DAYS,
        clock: Clock = oslo_today,
        on_committed: Callable[[], None] = lambda: None,
        batch_size: int = 200,
    ) -> None:
        self.database = database
        self.invoicing = invoicing
        self.lead_days = lead_days
        self.clock = clock
        self.on_committed = on_committed
        self.batch_size = batch_size

    async def run(self, today: date | None = None) -> int:
        """How many renewal invoices were issued. The service's own work for every org, in a
        fresh context (tenant "*"), whoever calls it."""
        day = today or self.clock()
        return await asyncio.create_task(self._run(day), context=contextvars.Context())

    async def _run(self, today: date) -> int:
        until = today + timedelta(days=self.lead_days)
        issued = 0
        after: tuple[date, str, str] | None = None
        while True:
            async with self.database.sessions() as session:
                due = await SweepQueries(session).members_to_renew(until, after, self.batch_size)
            for member in due:
                if await self._renew(member):
                    issued += 1
            if len(due) < self.batch_size:
                break
            last = due[-1]
            after = (last.period_end, last.org_id, last.member_ref)
        if issued:
            log.info("renewals_issued", count=issued)
        return issued

    async def _renew(self, member: Row) -> bool:
        request = InvoiceRequest(
            member.org_id,
            member.member_ref,
            member.membership_type_id,
            RENEWAL,
            str(uuid.uuid4()),
            renews_period_end=member.period_end,
        )
        try:
            async with self.database.transaction() as session:
                invoice_id = await self.invoicing.issue(session, request, EventContext())
        except IntegrityError:  # another run renewed this period first
            return False
        except Exception as exc:  # one member must not stop the others
            log.warning("renewal_failed", error=type(exc).__name__)
            return False
        if invoice_id is None:  # the member's plan charges nothing
            return False
        RENEWALS_ISSUED.inc()
        self.on_committed()
        return True
