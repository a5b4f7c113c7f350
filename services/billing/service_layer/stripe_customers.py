"""A member's Stripe customer: made on first need from the contact details membership gives
at that moment (we keep only Stripe's id), deleted at Stripe on erasure.

The customer is made under the idempotency key `customer:<org>:<member>:<generation>`, the
generation counting the customers this member has had. Concurrent first payments of a member
share the key, so Stripe makes one customer; a customer deleted at Stripe (customer.deleted)
leaves the count, so the next one gets a new key and is really made, even within the 24 h
Stripe keeps a key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

import grpc
from membership.v1 import membership_pb2, membership_pb2_grpc
from sqlalchemy.exc import IntegrityError

from services.billing.adapters.stripe_gateway import Contact, PaymentGateway
from services.billing.adapters.stripe_store import StripeStore
from services.billing.service_layer.payment_common import customer_key
from services.common.db.engine import Database
from services.common.errors import FailedPrecondition
from services.common.grpc.client import ServiceClient


class ContactSource(Protocol):
    async def contact(self, org_id: str, member_id: str) -> Contact | None: ...


class MembershipContacts:
    """Contact details from membership at the moment a Stripe customer is made."""

    def __init__(self, membership: ServiceClient) -> None:
        self.membership = membership

    async def contact(self, org_id: str, member_id: str) -> Contact | None:
        stub = membership_pb2_grpc.InternalDirectoryStub(self.membership.channel)
        try:
            found = await self.membership.call(
                stub.GetContact,
                membership_pb2.GetContactRequest(org_id=org_id, member_id=member_id),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return Contact(found.name, found.email, found.phone)


class StripeCustomers:
    def __init__(self, database: Database, gateway: PaymentGateway, contacts: ContactSource):
        self.database = database
        self.gateway = gateway
        self.contacts = contacts

    async def customer_for(self, org_id: str, member_id: str) -> str:
        """The member's customer id, made at Stripe when they have none."""
        async with self.database.sessions() as db:
            store = StripeStore(db)
            existing = await store.customer_of(org_id, member_id)
            generation = await store.customer_generation(org_id, member_id) + 1
        if existing:
            return existing
        contact = await self.contacts.contact(org_id, member_id)
        if contact is None:
            raise FailedPrecondition(f"member {member_id} is not a member any more")
        customer_id = await self.gateway.create_customer(
            contact,
            {"org_id": org_id},  # our link is the customer id we keep
            idempotency_key=customer_key(org_id, member_id, generation),
        )
        try:
            async with self.database.transaction() as db:
                if await StripeStore(db).link_customer(
                    org_id, member_id, customer_id, generation, datetime.now(UTC)
                ):
                    return customer_id
        except IntegrityError:
            pass  # a concurrent call under the same key linked this very customer first
        async with self.database.sessions() as db:
            linked = await StripeStore(db).customer_of(org_id, member_id)
        if linked != customer_id:
            # Ours lost to a customer of another generation: it is linked to nobody, so it
            # must not stay at Stripe with the member's contact details.
            await self.gateway.delete_customer(customer_id)
        if linked is None:
            raise FailedPrecondition(f"member {member_id}'s Stripe customer changed; try again")
        return linked

    async def forget(self, org_id: str, member_id: str) -> bool:
        """Deletes the member's Stripe customer (Stripe's deletion API) and all we kept of
        it. True when there was a customer to delete."""
        async with self.database.sessions() as db:
            customer_id = await StripeStore(db).customer_of(org_id, member_id)
        if customer_id is not None:
            await self.gateway.delete_customer(customer_id)  # False: Stripe had deleted it
        async with self.database.transaction() as db:
            await StripeStore(db).remove_customers_of(org_id, member_id)
        return customer_id is not None
