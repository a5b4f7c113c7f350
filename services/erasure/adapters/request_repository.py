"""Queries on data-subject requests, their history, erasure tasks and certificates, inside
the caller's transaction. Org-facing reads filter by org; the pipeline's own reads do not
(row-level security on PostgreSQL is the backstop either way)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, func, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.erasure.adapters.orm import (
    certificate_entries,
    erasure_tasks,
    privacy_requests,
    request_history,
)
from services.erasure.domain.plan import DONE, STUCK_AFTER, UNFINISHED
from services.erasure.domain.requests import IN_PROGRESS, OPEN_STATUSES

R = privacy_requests.c
T = erasure_tasks.c

# The runner's statements, built once: a statement object keeps its compiled form's cache key,
# so each call skips building the expression and its key (a good part of a call's CPU).
_GET = select(privacy_requests).where(R.id == bindparam("b_id"))
_TASKS = select(erasure_tasks).where(T.request_id == bindparam("b_id")).order_by(T.position)
# No .values(): the SET clause is the parameters' other keys.
_CHANGE_TASK = update(erasure_tasks).where(
    T.request_id == bindparam("b_id"), T.target == bindparam("b_target")
)
_CHANGE_CLAIMED_TASK = _CHANGE_TASK.where(T.claimed_by == bindparam("b_claimed_by"))
_CLAIM_TASKS = (
    update(erasure_tasks)
    .where(
        T.request_id == bindparam("b_id"),
        T.target.in_(bindparam("b_targets", expanding=True)),
        T.status != DONE,
        or_(T.claimed_until.is_(None), T.claimed_until <= bindparam("b_now")),
    )
    .values(claimed_by=bindparam("b_runner"), claimed_until=bindparam("b_until"))
    .returning(T.target)
)


class RequestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, values: dict[str, Any]) -> None:
        await self.session.execute(insert(privacy_requests).values(**values))

    async def get(self, request_id: str, org_id: str | None = None) -> Row | None:
        if org_id is None:
            return (await self.session.execute(_GET, {"b_id": request_id})).first()
        query = select(privacy_requests).where(R.id == request_id, R.org_id == org_id)
        return (await self.session.execute(query)).first()

    async def open_of_subject(
        self, org_id: str, subject_id: str, type_: str, purpose: str | None = None
    ) -> Row | None:
        """The open request of that type (an objection: to that purpose), if any."""
        return (
            await self.session.execute(
                select(privacy_requests).where(
                    R.org_id == org_id,
                    R.subject_id == subject_id,
                    R.type == type_,
                    R.purpose.is_(None) if purpose is None else R.purpose == purpose,
                    R.status.in_(OPEN_STATUSES),
                )
            )
        ).first()

    async def page(
        self, org_id: str, status: str, type_: str, offset: int, limit: int
    ) -> list[Row]:
        query = select(privacy_requests).where(R.org_id == org_id)
        if status:
            query = query.where(R.status == status)
        if type_:
            query = query.where(R.type == type_)
        query = query.order_by(R.received_at.desc(), R.id).offset(offset).limit(limit)
        return list((await self.session.execute(query)).all())

    async def change(self, request_id: str, **values: Any) -> None:
        await self.session.execute(
            update(privacy_requests).where(R.id == request_id).values(**values)
        )

    async def change_from(self, request_id: str, expected: str, **values: Any) -> bool:
        """Changes the request only if its status is still `expected`; False when another
        replica changed it first (a check-then-write would let both go ahead)."""
        result = await self.session.execute(
            update(privacy_requests)
            .where(R.id == request_id, R.status == expected)
            .values(**values)
        )
        return bool(result.rowcount)

    async def extend_once(self, request_id: str, **values: Any) -> bool:
        """Records the deadline's extension only if none is recorded yet; False when another
        call extended it first (a deadline is extended once)."""
        result = await self.session.execute(
            update(privacy_requests)
            .where(R.id == request_id, R.extended_months == 0)
            .values(**values)
        )
        return bool(result.rowcount)

    async def record(
        self, request: Row | dict[str, Any], status: str, at: datetime, actor: str, note: str = ""
    ) -> None:
        ids = request if isinstance(request, dict) else request._mapping
        await self.session.execute(
            insert(request_history).values(
                request_id=ids["id"],
                org_id=ids["org_id"],
                status=status,
                at=at,
                actor=actor,
                note=note,
            )
        )

    async def history(self, request_id: str) -> list[Row]:
        return list(
            (
                await self.session.execute(
                    select(request_history)
                    .where(request_history.c.request_id == request_id)
                    .order_by(request_history.c.seq)
                )
            ).all()
        )

    async def add_tasks(self, rows: Sequence[dict[str, Any]]) -> None:
        await self.session.execute(insert(erasure_tasks), list(rows))

    async def tasks(self, request_id: str) -> list[Row]:
        return list((await self.session.execute(_TASKS, {"b_id": request_id})).all())

    async def change_task(
        self, request_id: str, target: str, claimed_by: str | None = None, **values: Any
    ) -> bool:
        """With `claimed_by`: only while that runner still holds the task's lease, which the
        change releases; False when it lost the lease (it expired and another runner took
        the task), and the answer is dropped."""
        params = {"b_id": request_id, "b_target": target, **values}
        query = _CHANGE_TASK
        if claimed_by is not None:
            query = _CHANGE_CLAIMED_TASK
            params |= {"b_claimed_by": claimed_by, "claimed_by": None, "claimed_until": None}
        result = await self.session.execute(query, params)
        return bool(result.rowcount)

    async def claim_tasks(
        self,
        request_id: str,
        targets: Sequence[str],
        runner: str,
        now: datetime,
        until: datetime,
    ) -> list[str]:
        """Leases these tasks to `runner` until `until`, except those done or leased to
        another runner; returns the ones it got. Two replicas never run one task at once."""
        result = await self.session.execute(
            _CLAIM_TASKS,
            {
                "b_id": request_id,
                "b_targets": list(targets),
                "b_now": now,
                "b_runner": runner,
                "b_until": until,
            },
        )
        return list(result.scalars().all())

    async def requests_with_due_tasks(
        self, now: datetime, limit: int, types: Collection[str] = ("erasure",)
    ) -> list[str]:
        """Requests of these types with a task due; erasures unless told otherwise, since
        each type's tasks are run by their own runner. Also those still in progress with every
        task done: the last task's answer was recorded but the completion (certificate, event)
        was not, e.g. the process died in between; they are completed first."""
        # Both by index, so that a pass costs what is in progress, not every task ever run
        # (a pass runs after every commit).
        stranded = (
            await self.session.scalars(
                select(R.id)
                .where(
                    R.status == IN_PROGRESS,
                    R.type.in_(types),
                    exists().where(T.request_id == R.id),
                    ~exists().where(T.request_id == R.id, T.status.in_(UNFINISHED)),
                )
                .limit(limit)
            )
        ).all()
        due = (
            await self.session.scalars(
                select(T.request_id)
                .join(privacy_requests, R.id == T.request_id)
                .where(
                    T.status.in_(UNFINISHED),
                    T.next_attempt_at <= now,
                    or_(T.claimed_until.is_(None), T.claimed_until <= now),
                    R.type.in_(types),
                )
                .group_by(T.request_id)
                .order_by(func.min(T.next_attempt_at))
                .limit(limit - len(stranded))
            )
        ).all()
        return [*stranded, *due]

    async def postpone_tasks(
        self, request_id: str, targets: Sequence[str], until: datetime
    ) -> None:
        await self.session.execute(
            update(erasure_tasks)
            .where(T.request_id == request_id, T.target.in_(targets), T.status != DONE)
            .values(next_attempt_at=until)
        )

    async def add_certificate(self, rows: Sequence[dict[str, Any]]) -> None:
        await self.session.execute(insert(certificate_entries), list(rows))

    async def certificate(self, request_id: str) -> list[Row]:
        return list(
            (
                await self.session.execute(
                    select(certificate_entries)
                    .where(certificate_entries.c.request_id == request_id)
                    .order_by(certificate_entries.c.seq)
                )
            ).all()
        )

    async def open_requests(self) -> list[Row]:
        """Every open request's type, receipt and due date, across orgs (for the gauges)."""
        return list(
            (
                await self.session.execute(
                    select(R.type, R.received_at, R.due_date).where(R.status.in_(OPEN_STATUSES))
                )
            ).all()
        )

    async def stuck_targets(self) -> dict[str, int]:
        rows = await self.session.execute(
            select(T.target, func.count())
            .where(T.status != DONE, T.attempts >= STUCK_AFTER)
            .group_by(T.target)
        )
        return {target: count for target, count in rows.all()}
