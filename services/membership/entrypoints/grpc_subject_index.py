"""privacy.v1.SubjectIndex: the org's member ids, page by page, for the erasure service's
ledger replay (which hashes them with its own key; membership never sees the ledger)."""

from __future__ import annotations

import grpc
from privacy.v1 import ledger_pb2, ledger_pb2_grpc

from services.common.db.engine import Database
from services.common.errors import InvalidArgument
from services.membership.adapters.repository import Repository

MAX_PAGE = 5000


class SubjectIndexServicer(ledger_pb2_grpc.SubjectIndexServicer):
    def __init__(self, database: Database) -> None:
        self.database = database

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
            ids = await Repository(session).member_ids_after(
                request.org_id, request.after, request.page_size
            )
        return ledger_pb2.SubjectPage(subject_ids=ids)
