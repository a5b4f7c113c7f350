"""`privacy.v1.SubjectIndex` for any store: the subject ids it holds of an org, page by page,
for the erasure service's ledger replay (which hashes them with its own key; no store ever
sees the ledger). Each store answers for itself, so a member a restored store holds is found
even when another store's backup predates them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from privacy.v1 import ledger_pb2, ledger_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.engine import Database
from services.common.errors import InvalidArgument
from services.common.grpc.auth import SCOPE_INTERNAL

MAX_PAGE = 5000
SUBJECT_INDEX_SERVICE = "privacy.v1.SubjectIndex"
# Only the erasure service's replay: the ids cross the wire, the ledger key never does.
SUBJECT_INDEX_POLICY = {f"/{SUBJECT_INDEX_SERVICE}/ListSubjects": frozenset({SCOPE_INTERNAL})}

# (session, org id, after, limit) -> the org's subject ids greater than `after`, ascending
SubjectIds = Callable[[AsyncSession, str, str, int], Awaitable[list[str]]]


class SubjectIndexServicer(ledger_pb2_grpc.SubjectIndexServicer):
    def __init__(self, database: Database, subject_ids: SubjectIds) -> None:
        self.database = database
        self.subject_ids = subject_ids

    async def ListSubjects(
        self, request: ledger_pb2.ListSubjectsRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.SubjectPage:
        errors = {}
        if not request.org_id:
            errors["org_id"] = "required"
        if not 1 <= request.page_size <= MAX_PAGE:
            errors["page_size"] = f"between 1 and {MAX_PAGE}"
        if errors:
            raise InvalidArgument(errors)
        async with self.database.sessions() as session:
            ids = await self.subject_ids(session, request.org_id, request.after, request.page_size)
        return ledger_pb2.SubjectPage(subject_ids=ids)


def add_subject_index(server: grpc.aio.Server, database: Database, ids: SubjectIds) -> None:
    ledger_pb2_grpc.add_SubjectIndexServicer_to_server(SubjectIndexServicer(database, ids), server)
