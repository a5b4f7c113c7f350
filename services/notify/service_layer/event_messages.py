"""A consumer that turns one kind of event into one template's messages: for the event's
member, on each channel the kind goes by, through the shared queue (queueing.py). A new
message on an event is a MessageOnEvent and one `runtime.consume` line in bootstrap."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from events.v1.envelope_pb2 import Envelope
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.envelope import unpack
from services.common.topics import TopicSpec
from services.notify.adapters.membership_directory import BatchContacts, Directory
from services.notify.domain.content import CONTENT
from services.notify.domain.messages import kind_of
from services.notify.service_layer.queueing import Intent, MessageQueue, Values


@dataclass(frozen=True)
class MessageOnEvent:
    consumer: str  # the consumer's (and inbox's) name, e.g. notify.member-registered
    topic: TopicSpec
    template: str
    payload: type[Message]
    # The template's values from the event (a function of the language where they differ).
    values: Callable[[Any, Envelope], Values] = lambda payload, envelope: {}
    # Whether this event asks for the message at all (e.g. only a status change to lapsed).
    wanted: Callable[[Any], bool] = lambda payload: True
    # Batches are common on this topic: fetch the batch's contacts and keys in one call each.
    prefetch: bool = True
    # Values that only membership can give when the message is queued (a signed link, which
    # must never travel on a topic); used instead of `values`. None: the member is gone.
    fetch_values: Callable[[Directory, Any, Envelope], Awaitable[Values | None]] | None = None


class EventMessages:
    def __init__(self, spec: MessageOnEvent, queue: MessageQueue, contacts: BatchContacts) -> None:
        self.spec = spec
        self.queue = queue
        self.contacts = contacts
        self.kind = kind_of(spec.template)  # fails at start-up for an undeclared template

    def _wanted(self, envelope: Envelope) -> tuple[Any, str, str] | None:
        payload = unpack(envelope, self.spec.payload)
        if not self.spec.wanted(payload):
            return None
        org_id = envelope.org_id or getattr(payload, "org_id", "")
        return payload, org_id, payload.member_id

    async def prefetch(self, envelopes: list[Envelope]) -> None:
        refs = [(w[1], w[2]) for w in map(self._wanted, envelopes) if w is not None]
        if refs:
            await self.contacts.prefetch(refs)

    async def handle(self, session: AsyncSession, envelope: Envelope) -> None:
        wanted = self._wanted(envelope)
        if wanted is None:
            return
        payload, org_id, member_id = wanted
        # At this moment, not when the event was produced: an erased member gets nothing.
        contact = await self.contacts.contact(org_id, member_id)
        values = self.spec.values(payload, envelope)
        if self.spec.fetch_values is not None:
            fetched = await self.spec.fetch_values(self.contacts.directory, payload, envelope)
            if fetched is None:
                return
            values = fetched
        content = CONTENT[self.spec.template]
        for channel in content.channels:
            await self.queue.queue(
                session,
                Intent(
                    org_id=org_id,
                    member_id=member_id,
                    template=self.spec.template,
                    channel=channel,
                    kind=self.kind,
                    legal_basis=content.legal_basis,
                    source_id=envelope.event_id,
                    values=values,
                ),
                contact,
            )
