"""The load a drill breaks things under: members signing up through the org API and paying
their sign-up invoice at Stripe, as a club's web form and its members' browsers would.

Each member is one pipeline: RegisterMember, wait for billing's invoice, CreatePayment, then
the payer confirms the PaymentIntent at localstripe (the browser talks to Stripe directly, not
through billing). Callers behave like real ones: a call that fails for a passing reason
(UNAVAILABLE, DEADLINE_EXCEEDED, a dropped connection) is sent again after a pause, and a
sign-up that the first try already made comes back as ALREADY_EXISTS naming the member."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import grpc
import stripe
from billing.v1 import billing_pb2, billing_pb2_grpc
from membership.v1 import membership_pb2, membership_pb2_grpc

from services.common.grpc.client import TRANSIENT, existing_id

T = TypeVar("T")
CALL_TIMEOUT_S = 10.0
RETRY_PAUSE_S = 0.5
VISA = "4242424242424242"


class GaveUp(Exception):
    """A member's pipeline did not get through in the time the drill allows."""


@dataclass
class Member:
    serial: int
    member_id: str = ""
    invoice_id: str = ""
    payment_intent_id: str = ""
    confirmed: bool = False


@dataclass
class Traffic:
    """What the load did, member by member, and the failures its callers rode out."""

    members: list[Member] = field(default_factory=list)
    retries: dict[str, int] = field(default_factory=dict)  # what failed -> how often
    gave_up: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        self.retries[what] = self.retries.get(what, 0) + 1

    @property
    def registered(self) -> int:
        return sum(1 for m in self.members if m.member_id)

    @property
    def confirmed(self) -> int:
        return sum(1 for m in self.members if m.confirmed)


class Load:
    """Sign-ups and payments for one org, `concurrency` members in flight at a time."""

    def __init__(
        self,
        membership_addr: str,
        billing_addr: str,
        stripe_url: str,
        api_key: str,
        run_id: str,
        *,
        patience_s: float = 180.0,  # for one member's pipeline, from its first call
    ) -> None:
        self.membership_addr = membership_addr
        self.billing_addr = billing_addr
        self.stripe_url = stripe_url
        self.metadata = (("authorization", f"Bearer {api_key}"),)
        self.run_id = run_id
        self.patience_s = patience_s
        self.traffic = Traffic()

    async def run(self, n: int, concurrency: int = 32) -> Traffic:
        self.traffic.members = [Member(serial) for serial in range(n)]
        http_client = stripe.AIOHTTPClient()
        payer = stripe.StripeClient(
            "sk_test_drill",
            base_addresses={"api": self.stripe_url},
            http_client=http_client,
            max_network_retries=0,  # the pipeline retries, and counts what it rode out
        )
        async with (
            grpc.aio.insecure_channel(self.membership_addr) as membership_channel,
            grpc.aio.insecure_channel(self.billing_addr) as billing_channel,
        ):
            membership = membership_pb2_grpc.MembershipServiceStub(membership_channel)
            billing = billing_pb2_grpc.BillingServiceStub(billing_channel)
            cursor = iter(self.traffic.members)

            async def worker() -> None:
                for member in cursor:
                    deadline = time.monotonic() + self.patience_s
                    try:
                        await self._pipeline(member, membership, billing, payer, deadline)
                    except GaveUp as exc:
                        self.traffic.gave_up.append(f"member {member.serial}: {exc}")
                    except Exception as exc:  # reported with the rest, not ending the load
                        self.traffic.gave_up.append(f"member {member.serial}: {exc!r}")

            try:
                await asyncio.gather(*(worker() for _ in range(concurrency)))
            finally:
                await http_client.close_async()
        return self.traffic

    async def _pipeline(
        self,
        member: Member,
        membership: membership_pb2_grpc.MembershipServiceStub,
        billing: billing_pb2_grpc.BillingServiceStub,
        payer: stripe.StripeClient,
        deadline: float,
    ) -> None:
        member.member_id = await self._persist(
            "RegisterMember", lambda: self._register(membership, member.serial), deadline
        )
        member.invoice_id = await self._persist(
            "ListInvoices", lambda: self._invoice_of(billing, member.member_id), deadline
        )
        payment = await self._persist(
            "CreatePayment",
            lambda: billing.CreatePayment(
                billing_pb2.InvoiceRef(invoice_id=member.invoice_id),
                metadata=self.metadata,
                timeout=CALL_TIMEOUT_S,
            ),
            deadline,
        )
        member.payment_intent_id = payment.payment_intent_id
        tries = itertools.count()
        await self._persist(
            "stripe confirm",
            lambda: self._confirm(payer, payment.payment_intent_id, retry=next(tries) > 0),
            deadline,
        )
        member.confirmed = True

    async def _register(
        self, membership: membership_pb2_grpc.MembershipServiceStub, serial: int
    ) -> str:
        try:
            member = await membership.RegisterMember(
                membership_pb2.RegisterMemberRequest(
                    name=f"Drill Medlem {serial}",
                    email=self.email(serial),
                    phone=f"+479{serial % 10_000_000:07d}",
                    language="nb",
                ),
                metadata=self.metadata,
                timeout=CALL_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as exc:
            # An earlier try that timed out or lost its connection got through after all.
            if exc.code() == grpc.StatusCode.ALREADY_EXISTS and existing_id(exc):
                self.traffic.note("RegisterMember: ALREADY_EXISTS (an earlier try landed)")
                return existing_id(exc)
            raise
        return str(member.member_id)

    def email(self, serial: int) -> str:
        return f"drill-{self.run_id}-{serial}@drill.kontingent.no"

    async def _invoice_of(
        self, billing: billing_pb2_grpc.BillingServiceStub, member_id: str
    ) -> str | None:
        """The member's invoice id, or None while billing has not issued it yet."""
        invoices = await billing.ListInvoices(
            billing_pb2.ListInvoicesRequest(member_id=member_id),
            metadata=self.metadata,
            timeout=CALL_TIMEOUT_S,
        )
        return invoices.invoices[0].invoice_id if invoices.invoices else None

    @staticmethod
    async def _confirm(payer: stripe.StripeClient, payment_intent_id: str, *, retry: bool) -> bool:
        """What Stripe.js does in the payer's browser: a card, then confirm. A retry first
        looks whether the try whose answer was lost paid the intent after all."""
        if retry:
            intent = await payer.v1.payment_intents.retrieve_async(payment_intent_id)
            if intent.status == "succeeded":
                return True
        method = await payer.v1.payment_methods.create_async(
            {
                "type": "card",
                "card": {"number": VISA, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
            }
        )
        # localstripe takes the method by an update, not as a parameter of confirm.
        await payer.v1.payment_intents.update_async(
            payment_intent_id, {"payment_method": method.id}
        )
        intent = await payer.v1.payment_intents.confirm_async(payment_intent_id)
        return intent.status == "succeeded"

    async def _persist(
        self, what: str, attempt: Callable[[], Awaitable[T | None]], deadline: float
    ) -> T:
        """`attempt()` until it gives a value: after a passing failure, or while it answers
        None (not there yet), it is tried again after a pause, until the deadline."""
        while True:
            try:
                value = await attempt()
                if value:
                    return value
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in TRANSIENT:
                    raise GaveUp(f"{what}: {exc.code().name} {exc.details()}") from exc
                self.traffic.note(f"{what}: {exc.code().name}")
            except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
                self.traffic.note(f"{what}: {type(exc).__name__}")
            if time.monotonic() > deadline:
                raise GaveUp(f"{what}: still failing or not there at the deadline")
            await asyncio.sleep(RETRY_PAUSE_S)
