"""The four services' stores on real databases (SQLite and PostgreSQL) for the retention
sweeps: an org loads a profile in the erasure service, records are made at known dates in
membership, notify and billing, and each service's sweep runs on a given day.

The erasure service's Retention and PrivacyRequests answer over real gRPC (behind the real
interceptor and internal token), so the sweeps read profiles and file erasure requests through
their real clients. Notify's consent lookups read membership's consent history in-process.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

import grpc
import pytest
from membership.v1 import membership_pb2
from privacy.v1 import requests_pb2_grpc, retention_pb2_grpc
from prometheus_client import CollectorRegistry
from sqlalchemy import insert, select
from stdnum.no import orgnr

from kontingent_cli.devstack import free_port
from services.billing.adapters.orm import billed_members, invoices, ledger_entries
from services.billing.adapters.repository import Repository as BillingRepository
from services.billing.domain.invoices import OPEN, PAID, delete_after
from services.billing.domain.kid import make_kid
from services.billing.domain.ledger import INVOICE, PAYMENT, ledger_entry
from services.billing.service_layer.retention_profiles import BillingRetention
from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.grpc.auth import (
    SCOPE_INTERNAL,
    Authenticator,
    Principal,
    current_tenant,
)
from services.common.grpc.client import ServiceClient
from services.common.grpc.interceptor import ServiceInterceptor
from services.common.grpc.server import GrpcServer
from services.common.metrics import ServiceMetrics
from services.common.retention_sweep import (
    ActiveProfile,
    ErasureProfiles,
    ProfileSource,
    RetentionSweeps,
    SweepMetrics,
    Swept,
)
from services.common.timestamps import as_utc, to_timestamp
from services.erasure.adapters.key_store import KeyStore
from services.erasure.adapters.retention_files import builtin_profile_files
from services.erasure.adapters.retention_repository import retention_profile_loads
from services.erasure.entrypoints.grpc_requests import PrivacyRequestsServicer
from services.erasure.entrypoints.grpc_retention import RetentionServicer
from services.erasure.service_layer.keyring import Keyring
from services.erasure.service_layer.requests import PrivacyRequests
from services.erasure.service_layer.retention_profiles import OrgProfile, RetentionProfiles
from services.membership.adapters import audit
from services.membership.adapters.consents import consent_row, history
from services.membership.adapters.orm import audit_log, consents, login_log, members, orgs
from services.membership.adapters.privacy_requests import PrivacyRequestsClient
from services.membership.service_layer.logins import SEALED_FIELD
from services.membership.service_layer.retention import MembershipRetention
from services.notify.adapters.orm import messages
from services.notify.service_layer.retention import NotifyRetention
from tests.conftest import BACKENDS, PG_AVAILABLE, create_pg_database, drop_pg_database
from tests.integration.conftest import SERVICES_DIR
from tests.loopback.keys import LocalKeys

KEK, LEDGER_KEY = os.urandom(32), os.urandom(32)  # the module's erasure service's
TOKEN = "internal-token-for-tests"
# What the sweeps call, as the erasure service allows it (services/erasure/bootstrap.py).
POLICY = {
    "/privacy.v1.Retention/ListActiveProfiles": frozenset({SCOPE_INTERNAL}),
    "/privacy.v1.PrivacyRequests/FileRequest": frozenset({SCOPE_INTERNAL}),
    "/privacy.v1.PrivacyRequests/VerifyIdentity": frozenset({SCOPE_INTERNAL}),
}
METRICS_RPC = ServiceMetrics("test_retention", registry=CollectorRegistry())
# Valid org numbers (stdnum.no.orgnr) with the prefix 98, one per org made here.
ORG_NUMBERS = iter(n for n in range(980_000_001, 980_100_000) if orgnr.is_valid(str(n)))
# Each service's metrics once per process, as each service has them once.
METRICS = {s: SweepMetrics(f"test_{s}") for s in ("membership", "notify", "billing")}


def at(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(12), UTC)


def day(moment: datetime) -> str:
    """The stored moment's UTC day (every record here is made at noon UTC)."""
    return as_utc(moment).date().isoformat()


class Addresses:
    async def email_of(self, org_id: str, member_id: str) -> str | None:
        return f"{member_id}@example.no"


class ConsentsOverMembership:
    """Notify's ConsentHistory, answered from membership's consent history."""

    def __init__(self, membership: Database) -> None:
        self.membership = membership

    async def consents(self, org_id: str, member_id: str) -> membership_pb2.Consents | None:
        async with self.membership.sessions() as session:
            rows = await history(session, org_id, member_id)
        current: dict[str, bool] = {}
        for row in rows:
            current[row.purpose] = row.granted
        return membership_pb2.Consents(
            granted=[p for p, granted in current.items() if granted],
            history=[
                membership_pb2.ConsentChange(
                    purpose=r.purpose, granted=r.granted, at=to_timestamp(r.at)
                )
                for r in rows
            ],
        )


class OneOrg:
    """Every org's active profile, as the sweeps get them, of one org only: each test's org
    is alone in databases the module's tests share."""

    def __init__(self, profiles: ProfileSource, org_id: str) -> None:
        self.profiles = profiles
        self.org_id = org_id

    async def active(self) -> list[ActiveProfile]:
        return [a for a in await self.profiles.active() if a.org_id == self.org_id]


class NoStripeCustomers:
    """No seed profile has a payment-provider-customer rule: nothing may be deleted."""

    async def forget_customer(self, org_id: str, member_id: str) -> bool:
        raise AssertionError("no seed profile deletes Stripe customers")


@dataclass
class Platform:
    erasure: Database
    membership: Database
    notify: Database
    billing: Database
    profiles: RetentionProfiles
    keyring: Keyring
    requests: PrivacyRequests
    org: str
    erasure_client: ServiceClient
    keys: LocalKeys = field(default_factory=LocalKeys)
    invoice_number: int = 0

    async def load(self, name: str = "", text: str = "", file_name: str = "") -> OrgProfile:
        return await self.profiles.load(self.admin, name, text, file_name)

    async def sweep(self, day: str) -> dict[str, Swept]:
        """Every service's retention sweep on `day`; what each removed from the org."""
        today = date.fromisoformat(day)

        def clock() -> date:
            return today

        membership = MembershipRetention(
            self.membership, self.keys, PrivacyRequestsClient(self.erasure_client)
        )
        notify = NotifyRetention(self.notify, ConsentsOverMembership(self.membership), {})
        billing = BillingRetention(
            self.billing, self.own_profile, NoStripeCustomers(), METRICS["billing"], clock
        )
        swept = {
            "membership": await RetentionSweeps(
                "membership", self.own_profile, membership.sweep_org, METRICS["membership"], clock
            ).run(),
            "notify": await RetentionSweeps(
                "notify", self.own_profile, notify.sweep_org, METRICS["notify"], clock
            ).run(),
            "billing": await billing.run(),
        }
        return {service: by_org.get(self.org, {}) for service, by_org in swept.items()}

    def id(self, name: str) -> str:
        """A member's id: unique across the module's orgs, as the keyring's subjects are."""
        return f"{name}-{self.org[:8]}"

    def name(self, id_: str) -> str:
        return id_.rsplit("-", 1)[0]

    @property
    def admin(self) -> Principal:
        return Principal(kind="org", org_id=self.org, scopes=frozenset({"privacy"}), key_id="k-1")

    # --- membership ---------------------------------------------------------------------

    async def member(
        self, member_id: str, registered: str, status: str = "active", changed: str = ""
    ) -> None:
        """A member; `changed`: the day of their last audited status change."""
        member_id = self.id(member_id)
        await self.keyring.get_or_create(member_id, self.org)
        self.keys.remember(member_id, os.urandom(32))
        async with self.membership.transaction() as session:
            await session.execute(
                insert(members).values(
                    id=member_id,
                    org_id=self.org,
                    name_sealed=b"sealed",
                    email_sealed=b"sealed",
                    phone_sealed=b"sealed",
                    email_index=member_id,
                    language="nb",
                    status=status,
                    registered_at=at(registered),
                )
            )
            await session.execute(
                insert(audit_log).values(
                    audit.Change("api-key:k", "member.registered", member_id, ("name",)).row(
                        self.org, at(registered)
                    )
                )
            )
            if changed:
                await session.execute(
                    insert(audit_log).values(
                        audit.Change("api-key:k", "member.cancelled", member_id, ("status",)).row(
                            self.org, at(changed)
                        )
                    )
                )

    async def login(self, member_id: str, day: str, ip: str = "203.0.113.5") -> None:
        member_id = self.id(member_id)
        details = f'{{"device": "iPhone", "ip": "{ip}", "country": "NO", "city": "Oslo"}}'
        sealed = await self.keys.seal(member_id, {SEALED_FIELD: details})
        async with self.membership.transaction() as session:
            await session.execute(
                insert(login_log).values(
                    org_id=self.org,
                    member_id=member_id,
                    at=at(day),
                    kind="login",
                    details_sealed=sealed[SEALED_FIELD],
                )
            )

    async def consent(self, member_id: str, purpose: str, granted: bool, day: str) -> None:
        member_id = self.id(member_id)
        async with self.membership.transaction() as session:
            await session.execute(
                insert(consents).values(
                    consent_row(self.org, member_id, purpose, granted, at(day), "form", 1)
                )
            )

    async def logins(self, member_id: str) -> list[tuple[str, str]]:
        """(day, ip) of the member's sessions, oldest first; ip "" once it was removed."""
        member_id = self.id(member_id)
        async with self.membership.sessions() as session:
            rows = (
                await session.execute(
                    select(login_log)
                    .where(login_log.c.member_id == member_id)
                    .order_by(login_log.c.at)
                )
            ).all()
        found = []
        for row in rows:
            plain = await self.keys.unseal(member_id, {SEALED_FIELD: row.details_sealed})
            ip = json.loads(plain[SEALED_FIELD])["ip"]
            found.append((day(row.at), ip))
        return found

    async def consent_days(self, member_id: str) -> list[str]:
        member_id = self.id(member_id)
        async with self.membership.sessions() as session:
            rows = await history(session, self.org, member_id)
        return [f"{r.purpose}:{'granted' if r.granted else 'withdrawn'}:{day(r.at)}" for r in rows]

    async def audit_days(self, member_id: str) -> list[str]:
        member_id = self.id(member_id)
        async with self.membership.sessions() as session:
            rows = await audit.about(session, self.org, member_id)
        return [day(r.at) for r in rows]

    async def erasure_requests(self) -> dict[str, str]:
        """member -> how their verified erasure request's identity check is recorded."""
        views, _ = await self.requests.list(self.org, "", "erasure", 50, "")
        found = {}
        for listed in views:
            view = await self.requests.get(self.org, listed.request.id)
            if view.request.status == "identity_verified":
                found[self.name(view.request.subject_id)] = (
                    f"{view.request.identity_method}: {view.free_text['identity_attestation']}"
                )
        return found

    # --- notify -------------------------------------------------------------------------

    async def message(
        self,
        message_id: str,
        member_id: str,
        day: str,
        message_class: str = "service",
        purpose: str = "membership",
        status: str = "delivered",
    ) -> None:
        member_id, message_id = self.id(member_id), self.id(message_id)
        async with self.notify.transaction() as session:
            await session.execute(
                insert(messages).values(
                    id=message_id,
                    org_id=self.org,
                    member_id=member_id,
                    source_event_id=f"ev-{message_id}",
                    template="welcome",
                    channel="email",
                    purpose=purpose,
                    recipient_sealed=b"sealed",
                    subject_sealed=b"sealed",
                    body_sealed=b"sealed",
                    status=status,
                    created_at=at(day),
                    message_class=message_class,
                )
            )

    async def messages(self) -> list[str]:
        async with self.notify.sessions() as session:
            query = select(messages.c.id).where(messages.c.org_id == self.org)
            return sorted(self.name(i) for i in (await session.scalars(query)).all())

    # --- billing ------------------------------------------------------------------------

    async def payment(
        self, invoice_id: str, member_id: str, issued: str, status: str = PAID
    ) -> None:
        """An invoice issued (and, unless open, paid) on `issued`, booked in the ledger."""
        member_id, invoice_id = self.id(member_id), self.id(invoice_id)
        async with self.billing.transaction() as session:
            repo = BillingRepository(session)
            number = await repo.next_number(self.org)
            await repo.add_invoice(
                {
                    "id": invoice_id,
                    "org_id": self.org,
                    "member_ref": member_id,
                    "source_event_id": f"ev-{invoice_id}",
                    "number": number,
                    "kid": make_kid(number),
                    "amount_ore": 50_000,
                    "currency": "NOK",
                    "status": status,
                    "issued_at": at(issued),
                    "due_date": at(issued).date(),
                    "delete_after": delete_after(at(issued).date()),
                }
            )
            kinds = (INVOICE,) if status == OPEN else (INVOICE, PAYMENT)
            for kind in kinds:
                await repo.book(
                    ledger_entry(
                        kind,
                        f"{kind}:{invoice_id}",
                        org_id=self.org,
                        member_ref=member_id,
                        invoice_id=invoice_id,
                        amount_ore=50_000,
                        currency="NOK",
                        recorded_at=at(issued),
                    )
                )

    async def billed(self, member_id: str, status: str, day: str) -> None:
        member_id = self.id(member_id)
        async with self.billing.transaction() as session:
            await session.execute(
                insert(billed_members).values(
                    org_id=self.org,
                    member_ref=member_id,
                    membership_type_id="type",
                    status=status,
                    updated_at=at(day),
                )
            )

    async def payments(self) -> list[str]:
        """Invoice ids left, with their ledger entries' count."""
        async with self.billing.sessions() as session:
            ids = (
                await session.scalars(select(invoices.c.id).where(invoices.c.org_id == self.org))
            ).all()
            entries = list(
                (
                    await session.scalars(
                        select(ledger_entries.c.invoice_id).where(
                            ledger_entries.c.org_id == self.org
                        )
                    )
                ).all()
            )
        return sorted(f"{self.name(i)}:{entries.count(i)}" for i in ids)

    async def loads(self) -> int:
        async with self.erasure.sessions() as session:
            query = select(retention_profile_loads).where(
                retention_profile_loads.c.org_id == self.org
            )
            return len((await session.execute(query)).all())

    @property
    def own_profile(self) -> OneOrg:
        return OneOrg(ErasureProfiles(self.erasure_client), self.org)


SERVICES = ("erasure", "membership", "notify", "billing")


@pytest.fixture(scope="module", params=BACKENDS)
def stores(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """Each service's database, migrated once for the module's tests (per backend)."""
    urls: dict[str, str] = {}
    for service in SERVICES:
        if request.param == "sqlite":
            urls[service] = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp(service)}/db.db"
        elif not PG_AVAILABLE:
            pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
        else:
            urls[service] = create_pg_database(f"retention_{service}")

    async def migrate() -> None:
        for service, url in urls.items():
            db = Database(url)
            await upgrade_to_head(db, SERVICES_DIR / service / "migrations")
            await db.close()

    asyncio.run(migrate())
    yield urls
    if request.param == "postgresql":
        for url in urls.values():
            drop_pg_database(url)


@pytest.fixture
async def platform(stores: dict[str, str]) -> AsyncIterator[Platform]:
    """A new org, in the module's databases."""
    org = str(uuid.uuid4())
    dbs = {s: Database(url, tenant=current_tenant) for s, url in stores.items()}
    async with dbs["membership"].transaction() as session:
        await session.execute(
            insert(orgs).values(
                id=org,
                name="Retention",
                org_number=str(next(ORG_NUMBERS)),
                language="nb",
                created_at=at("2015-01-01"),
            )
        )
    keyring = Keyring(KeyStore(dbs["erasure"]), KEK, LEDGER_KEY)
    profiles = RetentionProfiles(dbs["erasure"], builtin_profile_files())
    requests = PrivacyRequests(dbs["erasure"], keyring, Addresses())

    def add(server: grpc.aio.Server) -> None:
        retention_pb2_grpc.add_RetentionServicer_to_server(RetentionServicer(profiles), server)
        requests_pb2_grpc.add_PrivacyRequestsServicer_to_server(
            PrivacyRequestsServicer(requests), server
        )

    address = f"127.0.0.1:{free_port()}"
    server = GrpcServer(
        address, add, [], ServiceInterceptor(Authenticator(TOKEN, _no_keys), POLICY, METRICS_RPC)
    )
    await server.start()
    client = ServiceClient("erasure", address, TOKEN)
    yield Platform(
        dbs["erasure"],
        dbs["membership"],
        dbs["notify"],
        dbs["billing"],
        profiles,
        keyring,
        requests,
        org,
        client,
    )
    await client.close()
    await server.stop(0)
    for db in dbs.values():
        await db.close()


async def _no_keys(api_key: str) -> None:
    return None
