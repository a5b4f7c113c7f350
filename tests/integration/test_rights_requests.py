"""Restriction and objection requests inside the erasure service: filed and verified through
the request use cases, then applied by their runner through membership's SetRestriction and
SetObjection over gRPC, with the internal token, behind the real interceptor and membership's
real access policy. Membership is a stand-in holding the two flags (its real service is
driven in tests/e2e/test_erasure_requests.py); it can be told to fail."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import pytest
from membership.v1 import membership_pb2 as mpb
from membership.v1 import membership_pb2_grpc
from prometheus_client import REGISTRY, CollectorRegistry

from kontingent_cli.devstack import free_port
from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.grpc.auth import (
    SCOPE_PRIVACY,
    Authenticator,
    Principal,
    acting_for,
    current_tenant,
)
from services.common.grpc.client import ServiceClient
from services.common.grpc.interceptor import ServiceInterceptor
from services.common.grpc.server import GrpcServer
from services.common.metrics import ServiceMetrics
from services.erasure.adapters.key_store import KeyStore
from services.erasure.adapters.membership_flags import MembershipFlags
from services.erasure.adapters.request_repository import RequestRepository
from services.erasure.service_layer.keyring import Keyring
from services.erasure.service_layer.membership_requests import MembershipRequestRunner
from services.erasure.service_layer.requests import PrivacyRequests, RequestView
from services.membership.bootstrap import POLICY
from services.membership.domain.objections import with_objection
from tests.integration.conftest import SERVICES_DIR

TOKEN = "internal-token-for-tests"
ORG = "org-a"
ADMIN = Principal(kind="org", org_id=ORG, scopes=frozenset({SCOPE_PRIVACY}), key_id="key-1")


@dataclass
class Membership(membership_pb2_grpc.MembershipServiceServicer):
    """The two flags per (org, member), set as membership sets them; `failures` answers
    INTERNAL that many times first."""

    restricted: set[tuple[str, str]] = field(default_factory=set)
    objections: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    failures: int = 0

    def _member(self, org_id: str, member_id: str) -> mpb.Member:
        key = (org_id, member_id)
        return mpb.Member(
            member_id=member_id,
            restricted=key in self.restricted,
            objections=list(self.objections.get(key, ())),
        )

    async def _maybe_fail(self, context: grpc.aio.ServicerContext) -> None:
        if self.failures:
            self.failures -= 1
            await context.abort(grpc.StatusCode.INTERNAL, "membership is having a bad day")

    async def SetRestriction(
        self, request: mpb.SetRestrictionRequest, context: grpc.aio.ServicerContext
    ) -> mpb.Member:
        await self._maybe_fail(context)
        org_id = acting_for(request.org_id).org_id
        self.restricted.add((org_id, request.member_id))
        return self._member(org_id, request.member_id)

    async def SetObjection(
        self, request: mpb.SetObjectionRequest, context: grpc.aio.ServicerContext
    ) -> mpb.Member:
        await self._maybe_fail(context)
        org_id = acting_for(request.org_id).org_id
        key = (org_id, request.member_id)
        self.objections[key] = with_objection(
            self.objections.get(key, ()), request.purpose, request.objecting
        )
        return self._member(org_id, request.member_id)


class NoContacts:
    async def email_of(self, org_id: str, member_id: str) -> str | None:
        raise AssertionError("only an erasure captures the address")


@dataclass
class Rights:
    db: Database
    keyring: Keyring
    requests: PrivacyRequests
    runner: MembershipRequestRunner
    membership: Membership

    async def member(self) -> str:
        member_id = str(uuid.uuid4())
        await self.keyring.get_or_create(member_id, ORG)
        return member_id

    async def file_and_verify(self, member_id: str, type_: str, purpose: str = "") -> str:
        filed = await self.requests.file(ADMIN, member_id, type_, purpose)
        await self.requests.verify_identity(
            ADMIN, filed.request.id, "admin-attestation", "saw the member's ID card"
        )
        return filed.request.id

    async def drive(self, request_id: str) -> RequestView:
        for _ in range(200):
            await self.runner.run_once()
            view = await self.requests.get(ORG, request_id)
            if view.request.status == "completed":
                return view
        raise AssertionError(f"request {request_id} never completed")


async def _no_keys(api_key: str) -> None:
    return None


@pytest.fixture
async def rights(database_url: str) -> AsyncIterator[Rights]:
    db = Database(database_url, tenant=current_tenant)
    await upgrade_to_head(db, SERVICES_DIR / "erasure" / "migrations")
    keyring = Keyring(KeyStore(db), os.urandom(32), os.urandom(32))
    membership = Membership()
    address = f"127.0.0.1:{free_port()}"
    metrics = ServiceMetrics("test", registry=CollectorRegistry())
    server = GrpcServer(
        address,
        lambda s: membership_pb2_grpc.add_MembershipServiceServicer_to_server(membership, s),
        [],
        ServiceInterceptor(Authenticator(TOKEN, _no_keys), POLICY, metrics),
    )
    await server.start()
    client = ServiceClient("membership", address, TOKEN, deadline_s=5.0)
    runner = MembershipRequestRunner(
        db, MembershipFlags(client), backoff_base_s=0.01, backoff_cap_s=0.02
    )
    yield Rights(db, keyring, PrivacyRequests(db, keyring, NoContacts()), runner, membership)
    await client.close()
    await server.stop(0)
    await db.close()


def failures(target: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "erasure_target_attempts_total", {"target": target, "outcome": "failed"}
        )
        or 0.0
    )


async def test_a_restriction_is_set_at_membership_and_completes(rights: Rights) -> None:
    member = await rights.member()
    request_id = await rights.file_and_verify(member, "restriction")
    async with rights.db.sessions() as session:
        # The erasure runner never takes it for an erasure (where "membership" means Erase).
        assert (
            await RequestRepository(session).requests_with_due_tasks(rights.runner.now(), 10) == []
        )

    done = await rights.drive(request_id)

    assert (ORG, member) in rights.membership.restricted
    assert [h.status for h in done.history] == [
        "received",
        "identity_verified",
        "in_progress",
        "completed",
    ]
    assert done.history[-1].note == "membership: processing restricted"
    assert [(t.target, t.status, t.attempts) for t in done.tasks] == [
        ("membership-restriction", "done", 1)
    ]
    assert done.request.completed_at is not None


async def test_an_objection_survives_membership_failing_and_completes(rights: Rights) -> None:
    member = await rights.member()
    rights.membership.failures = 2
    before = failures("membership-objection")
    request_id = await rights.file_and_verify(member, "objection", "marketing")

    await rights.runner.run_once()
    waiting = await rights.requests.get(ORG, request_id)
    assert waiting.request.status == "in_progress"  # open, to be retried
    assert waiting.tasks[0].last_error == "membership-internal"

    done = await rights.drive(request_id)

    assert rights.membership.objections[(ORG, member)] == ("marketing",)
    assert done.request.purpose == "marketing"
    assert done.tasks[0].attempts == 3
    assert failures("membership-objection") - before == 2
    assert done.history[-1].note == "membership: objection to 'marketing' recorded"


async def test_objections_to_two_purposes_are_two_requests(rights: Rights) -> None:
    member = await rights.member()
    await rights.requests.file(ADMIN, member, "objection", "marketing")
    await rights.requests.file(ADMIN, member, "objection", "newsletter")
    views, _ = await rights.requests.list(ORG, "", "objection", 0, "")
    assert sorted(v.request.purpose for v in views) == ["marketing", "newsletter"]


@pytest.mark.parametrize(
    ("type_", "purpose", "problem"),
    [
        ("objection", "", "required for an objection"),
        ("objection", "Bad Purpose!", "a purpose slug"),
        ("restriction", "marketing", "only an objection names a purpose"),
    ],
)
async def test_a_bad_purpose_is_refused_and_nothing_is_stored(
    rights: Rights, type_: str, purpose: str, problem: str
) -> None:
    member = await rights.member()
    with pytest.raises(InvalidArgument) as refused:
        await rights.requests.file(ADMIN, member, type_, purpose)
    assert list(refused.value.field_errors) == ["purpose"]
    assert problem in refused.value.field_errors["purpose"]
    views, _ = await rights.requests.list(ORG, "", "", 0, "")
    assert views == []


async def test_of_two_concurrent_verifications_one_wins_and_the_other_is_told(
    rights: Rights,
) -> None:
    # Two replicas (two PrivacyRequests on one database) verify the same request at once.
    member = await rights.member()
    filed = await rights.requests.file(ADMIN, member, "restriction", "")
    other = PrivacyRequests(rights.db, rights.keyring, NoContacts())
    outcomes = await asyncio.gather(
        *(
            replica.verify_identity(ADMIN, filed.request.id, "admin-attestation", "saw the ID")
            for replica in (rights.requests, other)
        ),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], FailedPrecondition), outcomes
    view = await rights.requests.get(ORG, filed.request.id)
    verified = [h for h in view.history if h.status == "identity_verified"]
    assert len(verified) == 1, "one verification recorded, one plan"


async def test_of_two_concurrent_extensions_one_wins(rights: Rights) -> None:
    member = await rights.member()
    filed = await rights.requests.file(ADMIN, member, "restriction", "")
    other = PrivacyRequests(rights.db, rights.keyring, NoContacts())
    outcomes = await asyncio.gather(
        rights.requests.extend(ADMIN, filed.request.id, 2, "complex request", True),
        other.extend(ADMIN, filed.request.id, 1, "many stores", True),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], FailedPrecondition), outcomes
    view = await rights.requests.get(ORG, filed.request.id)
    assert view.request.extended_months in (1, 2)
    assert sum("deadline extended" in (h.note or "") for h in view.history) == 1
