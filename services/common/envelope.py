"""The event envelope: build, encode and decode the protobuf every topic carries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from events.v1.envelope_pb2 import Envelope
from google.protobuf.message import DecodeError, Message

from services.common.errors import PermanentFailure

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class EventContext:
    """Tracing ids an event inherits from what caused it."""

    correlation_id: str = ""
    causation_id: str = ""

    @classmethod
    def caused_by(cls, envelope: Envelope) -> EventContext:
        return cls(
            correlation_id=envelope.correlation_id or envelope.event_id,
            causation_id=envelope.event_id,
        )


def new_envelope(
    event_type: str,
    payload: Message,
    *,
    org_id: str,
    subject_id: str = "",
    context: EventContext | None = None,
    schema_version: int = 1,
    event_id: str | None = None,
) -> Envelope:
    """`event_id`: a fresh UUID unless given (a caller building many may draw them at once)."""
    event_id = event_id or str(uuid.uuid4())
    context = context or EventContext()
    envelope = Envelope(
        event_id=event_id,
        event_type=event_type,
        schema_version=schema_version,
        org_id=org_id,
        subject_id=subject_id,
        correlation_id=context.correlation_id or event_id,
        causation_id=context.causation_id,
    )
    envelope.occurred_at.FromDatetime(datetime.now(UTC))
    envelope.payload.Pack(payload)
    return envelope


def decode(raw: bytes | None) -> Envelope:
    envelope = Envelope()
    try:
        envelope.ParseFromString(raw or b"")
    except DecodeError as exc:
        raise PermanentFailure(f"not an Envelope: {exc}") from exc
    if not envelope.event_id or not envelope.event_type:
        raise PermanentFailure("envelope without event_id or event_type")
    return envelope


def unpack(envelope: Envelope, message_type: type[M]) -> M:
    payload = message_type()
    if not envelope.payload.Unpack(payload):
        raise PermanentFailure(
            f"{envelope.event_type} carries {envelope.payload.type_url}, "
            f"expected {message_type.DESCRIPTOR.full_name}"
        )
    return payload
