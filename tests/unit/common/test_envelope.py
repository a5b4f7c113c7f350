"""The event envelope every topic carries: build, encode, decode, unpack."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from billing.v1.events_pb2 import InvoiceIssued
from events.v1.envelope_pb2 import Envelope
from membership.v1.events_pb2 import MemberRegistered

from services.common.envelope import EventContext, decode, new_envelope, unpack
from services.common.errors import PermanentFailure


def registered(member_id: str = "member-1") -> Envelope:
    return new_envelope(
        "membership.member-registered",
        MemberRegistered(member_id=member_id, org_id="org-1", language="nb"),
        org_id="org-1",
        subject_id=member_id,
    )


def test_envelope_survives_the_wire() -> None:
    sent = registered()
    received = decode(sent.SerializeToString())
    assert received == sent
    payload = unpack(received, MemberRegistered)
    assert payload.member_id == "member-1"
    assert payload.language == "nb"


def test_new_envelope_fills_in_the_ids() -> None:
    envelope = registered()
    uuid.UUID(envelope.event_id)
    assert envelope.event_type == "membership.member-registered"
    assert envelope.schema_version == 1
    assert envelope.org_id == "org-1"
    assert envelope.subject_id == "member-1"
    assert envelope.correlation_id == envelope.event_id  # a new chain starts here
    assert envelope.causation_id == ""
    occurred = envelope.occurred_at.ToDatetime(tzinfo=UTC)
    assert abs(occurred - datetime.now(UTC)) < timedelta(minutes=1)


def test_each_event_gets_its_own_id() -> None:
    assert registered().event_id != registered().event_id


def test_caused_by_links_an_event_to_its_cause() -> None:
    cause = registered()
    effect = new_envelope(
        "billing.invoice-issued",
        InvoiceIssued(invoice_id="inv-1", member_id="member-1"),
        org_id="org-1",
        subject_id="member-1",
        context=EventContext.caused_by(cause),
    )
    assert effect.causation_id == cause.event_id
    assert effect.correlation_id == cause.correlation_id
    third = new_envelope(
        "notify.message-recorded",
        InvoiceIssued(),
        org_id="org-1",
        context=EventContext.caused_by(effect),
    )
    assert third.correlation_id == cause.event_id  # the whole chain shares one correlation id
    assert third.causation_id == effect.event_id


@pytest.mark.parametrize("raw", [b"\xff\xff not protobuf", b"garbage", b"\x0a\x05ab"])
def test_garbage_bytes_are_a_permanent_failure(raw: bytes) -> None:
    with pytest.raises(PermanentFailure, match="not an Envelope"):
        decode(raw)


@pytest.mark.parametrize("raw", [None, b""])
def test_an_empty_message_is_a_permanent_failure(raw: bytes | None) -> None:
    with pytest.raises(PermanentFailure):
        decode(raw)


def test_envelope_without_event_id_is_a_permanent_failure() -> None:
    envelope = registered()
    envelope.event_id = ""
    with pytest.raises(PermanentFailure, match="event_id"):
        decode(envelope.SerializeToString())


def test_envelope_without_event_type_is_a_permanent_failure() -> None:
    envelope = registered()
    envelope.event_type = ""
    with pytest.raises(PermanentFailure, match="event_type"):
        decode(envelope.SerializeToString())


def test_unpacking_the_wrong_payload_type_is_a_permanent_failure() -> None:
    with pytest.raises(PermanentFailure) as caught:
        unpack(registered(), InvoiceIssued)
    assert "billing.v1.InvoiceIssued" in str(caught.value)
    assert "membership.v1.MemberRegistered" in str(caught.value)
