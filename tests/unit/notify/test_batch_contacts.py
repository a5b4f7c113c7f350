"""A consumer's batch fetches its contacts in one call; each is used once, a member found gone
stays gone for that batch, and anything not prefetched (or prefetched too long ago) is asked
for at the moment it is needed."""

from __future__ import annotations

from typing import Any

import grpc
from membership.v1 import membership_pb2 as pb

from services.notify.adapters import membership_directory
from services.notify.adapters.membership_directory import BatchContacts, Directory

ORG = "org-1"


class FakeChannel:
    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> str:
        return method.rsplit("/", 1)[1]


class FakeMembership:
    channel = FakeChannel()

    def __init__(self, *members: str) -> None:
        self.members = set(members)
        self.calls: list[str] = []

    async def call(self, method: str, request: Any) -> Any:
        self.calls.append(method)
        if method == "GetContacts":
            return pb.Contacts(
                contacts=[
                    pb.Contact(org_id=r.org_id, member_id=r.member_id, name="fetched in batch")
                    for r in request.members
                    if r.member_id in self.members
                ]
            )
        assert method == "GetContact"
        if request.member_id not in self.members:
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.NOT_FOUND, grpc.aio.Metadata(), grpc.aio.Metadata()
            )
        return pb.Contact(org_id=request.org_id, member_id=request.member_id, name="asked now")


class FakeSealer:
    def __init__(self) -> None:
        self.prefetched: list[list[str]] = []

    async def prefetch(self, subject_ids: list[str]) -> None:
        self.prefetched.append(subject_ids)


async def test_a_batch_is_fetched_once_and_each_contact_used_once(monkeypatch: Any) -> None:
    membership, sealer = FakeMembership("a", "b"), FakeSealer()
    contacts = BatchContacts(Directory(membership), sealer)  # type: ignore[arg-type]
    await contacts.prefetch([(ORG, "a"), (ORG, "b"), (ORG, "gone")])
    assert membership.calls == ["GetContacts"] and sealer.prefetched == [["a", "b", "gone"]]

    first = await contacts.contact(ORG, "a")
    assert first is not None and first.name == "fetched in batch"
    assert await contacts.contact(ORG, "gone") is None
    assert membership.calls == ["GetContacts"]  # both from the batch

    again = await contacts.contact(ORG, "a")  # used up: asked again
    assert again is not None and again.name == "asked now"
    assert await contacts.contact(ORG, "gone") is None
    assert membership.calls == ["GetContacts", "GetContact", "GetContact"]

    monkeypatch.setattr(membership_directory, "PREFETCH_TTL_S", 0.0)
    await contacts.prefetch([(ORG, "b")])
    stale = await contacts.contact(ORG, "b")  # too old by now: asked again
    assert stale is not None and stale.name == "asked now"
