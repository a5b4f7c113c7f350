"""Billing's retention under each org's profile: payment records (never before the
bookkeeping act's date: domain/retention.py) and Stripe customers (deleted at Stripe through
the payments' own path, as an erasure does). Orgs whose profile has no payment-records rule,
and orgs without a profile, keep the bookkeeping default (retention.py). Billing keeps no
audit log: each run is a structured log line and the billing_retention_* metrics."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Protocol

from services.billing.adapters.retention_records import RetentionRecords
from services.billing.domain.retention import due_customers, due_payment_records
from services.billing.service_layer.retention import RECORDS, RetentionSweep
from services.common.clock import Clock, oslo_today
from services.common.db.engine import Database
from services.common.retention import RetentionProfile, action_done
from services.common.retention_sweep import (
    ProfileSource,
    RetentionSweeps,
    SweepMetrics,
    Swept,
    count,
)


class CustomerDeletion(Protocol):
    async def forget_customer(self, org_id: str, member_id: str) -> bool: ...


class BillingRetention:
    def __init__(
        self,
        database: Database,
        profiles: ProfileSource,
        customers: CustomerDeletion,
        metrics: SweepMetrics,
        clock: Clock = oslo_today,
    ) -> None:
        self.database = database
        self.profiles = profiles
        self.customers = customers
        self.clock = clock
        self.default = RetentionSweep(database, clock)
        self.sweeps = RetentionSweeps("billing", profiles, self.sweep_org, metrics, clock)

    async def run(self) -> dict[str, Swept]:
        active = await self.profiles.active()
        profiled = frozenset(
            a.org_id for a in active if a.profile.rule_for("payment-records") is not None
        )
        await self.default.run(self.clock(), skip_orgs=profiled)
        return await self.sweeps.run(active)

    async def sweep_org(self, org_id: str, profile: RetentionProfile, today: date) -> Swept:

        def clock() -> date:
            return today

        async with self.database.sessions() as session:
            records = RetentionRecords(session)
            ended = await records.ended(org_id)
            payments = await records.payment_records(org_id)
            customers = await records.customers(org_id)
        swept: Swept = {}
        payment_rule = profile.rule_for("payment-records")
        if payment_rule is not None:
            by_kind: defaultdict[str, list[str]] = defaultdict(list)
            for record in due_payment_records(profile, clock, payments, ended):
                by_kind[record.kind].append(record.id)
            # What refers to an invoice goes before it, as in the default sweep.
            async with self.database.transaction() as session:
                for kind in RECORDS:
                    if by_kind[kind]:
                        removed = await RetentionRecords(session).delete(
                            org_id, kind, by_kind[kind]
                        )
                        count(swept, "payment-records", action_done(payment_rule), removed)
        customer_rule = profile.rule_for("payment-provider-customer")
        if customer_rule is not None:
            for member_ref in due_customers(profile, clock, customers, ended):
                if await self.customers.forget_customer(org_id, member_ref):
                    count(swept, "payment-provider-customer", action_done(customer_rule), 1)
        return swept
