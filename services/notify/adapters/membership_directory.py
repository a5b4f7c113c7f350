"""Membership's InternalDirectory as notify needs it: a member's contact details and flags at
the moment a message is queued, their consent evidence, and withdrawing a consent on their
behalf (an unsubscribe link). Nothing here is cached beyond one consumer batch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
from membership.v1 import membership_pb2, membership_pb2_grpc

from services.common.grpc.client import ServiceClient
from services.common.sealing import Sealer

# The member is erased, or not of this org: nothing to send.
GONE = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION)
# A prefetched contact older than this is asked for again.
PREFETCH_TTL_S = 30.0


class Directory:
    def __init__(self, membership: ServiceClient) -> None:
        self.client = membership

    @property
    def _stub(self) -> membership_pb2_grpc.InternalDirectoryStub:
        return membership_pb2_grpc.InternalDirectoryStub(self.client.channel)

    async def contact(self, org_id: str, member_id: str) -> membership_pb2.Contact | None:
        """None when the member is gone (erased) or not the org's."""
        try:
            return await self.client.call(
                self._stub.GetContact,
                membership_pb2.GetContactRequest(org_id=org_id, member_id=member_id),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in GONE:
                return None
            raise

    async def contacts(self, org_id: str, member_ids: list[str]) -> list[membership_pb2.Contact]:
        """The org's members among `member_ids`; the others (gone, another org's) left out."""
        found = await self.contacts_of([(org_id, m) for m in member_ids])
        return [c for c in found if c.org_id == org_id]

    async def contacts_of(self, refs: list[tuple[str, str]]) -> list[membership_pb2.Contact]:
        """Many (org, member) at once; members that are gone are left out."""
        requests = [membership_pb2.GetContactRequest(org_id=o, member_id=m) for o, m in refs]
        found = await self.client.call(
            self._stub.GetContacts, membership_pb2.GetContactsRequest(members=requests)
        )
        return list(found.contacts)

    async def privacy_link(self, org_id: str, member_id: str) -> membership_pb2.PrivacyLink | None:
        """A fresh signed link to the member's privacy page; None when the member is gone."""
        try:
            return await self.client.call(
                self._stub.GetPrivacyLink,
                membership_pb2.GetContactRequest(org_id=org_id, member_id=member_id),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in GONE:
                return None
            raise

    async def consents(self, org_id: str, member_id: str) -> membership_pb2.Consents | None:
        try:
            return await self.client.call(
                self._stub.GetConsents,
                membership_pb2.GetContactRequest(org_id=org_id, member_id=member_id),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in GONE:
                return None
            raise

    async def withdraw_consent(
        self, org_id: str, member_id: str, purpose: str, source: str
    ) -> bool:
        """False when the member is gone (there is nothing left to withdraw)."""
        try:
            await self.client.call(
                self._stub.WithdrawConsent,
                membership_pb2.WithdrawConsentRequest(
                    org_id=org_id, member_id=member_id, purpose=purpose, source=source
                ),
            )
            return True
        except grpc.aio.AioRpcError as exc:
            if exc.code() in GONE:
                return False
            raise

    async def org_contacts(self, page_size: int = 200) -> AsyncIterator[membership_pb2.OrgContact]:
        """Every org's own contact (not a member's), asked page by page as it is read."""
        token = ""
        while True:
            page = await self.client.call(
                self._stub.ListOrgContacts,
                membership_pb2.ListOrgContactsRequest(page_size=page_size, page_token=token),
            )
            for org in page.orgs:
                yield org
            if not page.next_page_token:
                return
            token = page.next_page_token


class BatchContacts:
    """One consumer's contacts: prefetch() fetches a batch's contacts (and their members' keys)
    in one call each; contact() takes a prefetched one once, or asks membership."""

    def __init__(self, directory: Directory, sealer: Sealer) -> None:
        self.directory = directory
        self.sealer = sealer
        self._fetched_at = 0.0
        # None means "looked up: gone".
        self._prefetched: dict[tuple[str, str], membership_pb2.Contact | None] = {}

    async def prefetch(self, refs: list[tuple[str, str]]) -> None:
        found, _ = await asyncio.gather(
            self.directory.contacts_of(refs), self.sealer.prefetch([m for _, m in refs])
        )
        prefetched: dict[tuple[str, str], membership_pb2.Contact | None] = dict.fromkeys(refs)
        prefetched |= {(c.org_id, c.member_id): c for c in found}
        self._prefetched, self._fetched_at = prefetched, time.monotonic()

    async def contact(self, org_id: str, member_id: str) -> membership_pb2.Contact | None:
        key = (org_id, member_id)
        if key in self._prefetched:
            contact = self._prefetched.pop(key)
            if time.monotonic() - self._fetched_at < PREFETCH_TTL_S:
                return contact
        return await self.directory.contact(org_id, member_id)
