"""Measures the open requests and stuck targets for the gauges, on a schedule (the gauges
describe the whole database, not this process's own work)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from services.common.db.engine import Database
from services.common.timestamps import as_utc
from services.erasure.adapters.request_repository import RequestRepository
from services.erasure.domain import requests as rules
from services.erasure.metrics import (
    OLDEST_OPEN_REQUEST_AGE,
    REQUESTS_AT_RISK,
    REQUESTS_OPEN,
    REQUESTS_OVERDUE,
    TARGETS_STUCK,
)


class RequestMetrics:
    def __init__(
        self,
        database: Database,
        targets: list[str],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.targets = targets
        self.now = now

    async def refresh(self) -> None:
        async with self.database.sessions() as session:
            repo = RequestRepository(session)
            open_rows = await repo.open_requests()
            stuck = await repo.stuck_targets()
        now = self.now()
        today = rules.oslo_date(now)
        by_type = Counter(row.type for row in open_rows)
        for type_ in rules.TYPES:
            REQUESTS_OPEN.labels(type_).set(by_type[type_])
        oldest = min((as_utc(row.received_at) for row in open_rows), default=now)
        OLDEST_OPEN_REQUEST_AGE.set((now - oldest).total_seconds())
        REQUESTS_AT_RISK.set(sum(rules.at_risk(row.due_date, today) for row in open_rows))
        REQUESTS_OVERDUE.set(sum(row.due_date < today for row in open_rows))
        for target in self.targets:
            TARGETS_STUCK.labels(target).set(stuck.get(target, 0))
