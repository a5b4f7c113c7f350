"""The evidence a marketing message records is the grant the member's consent rests on now:
the latest change for the purpose, and only while it is a grant."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from membership.v1 import membership_pb2 as pb

from services.notify.domain.gating import MemberFlags, Withheld, withheld_because
from services.notify.domain.messages import MARKETING, MessageKind
from services.notify.service_layer.queueing import consent_evidence

NEWSLETTER = MessageKind(MARKETING, "newsletter")


def change(purpose: str, granted: bool, day: int, source: str = "member") -> pb.ConsentChange:
    at = Timestamp()
    at.FromDatetime(datetime(2026, 3, day, 9, 30, tzinfo=UTC))
    return pb.ConsentChange(
        purpose=purpose, granted=granted, at=at, source=source, policy_version=day
    )


def consents(*history: pb.ConsentChange) -> pb.Consents:
    now: dict[str, bool] = {}
    for c in history:
        now[c.purpose] = c.granted
    return pb.Consents(granted=[p for p, g in now.items() if g], history=history)


def test_the_latest_grant_is_the_evidence() -> None:
    found = consents(
        change("newsletter", True, 1, "registration-form"),
        change("newsletter", False, 2, "unsubscribe"),
        change("photos", True, 3),
        change("newsletter", True, 4, "member"),
    )
    assert consent_evidence(found, "newsletter") == {
        "purpose": "newsletter",
        "granted": True,
        "at": "2026-03-04T09:30:00+00:00",
        "source": "member",
        "policy_version": 4,
    }


def test_no_evidence_without_a_current_grant_and_then_no_marketing() -> None:
    withdrawn = consents(change("newsletter", True, 1), change("newsletter", False, 2))
    other = consents(change("photos", True, 1))
    for found in (withdrawn, other, consents()):
        evidence = consent_evidence(found, "newsletter")
        assert evidence is None
        flags = MemberFlags(consents=frozenset({"newsletter"} if evidence else set()))
        assert withheld_because(NEWSLETTER, flags) is Withheld.NO_CONSENT


def test_a_granted_purpose_without_history_is_no_evidence() -> None:
    """Fail closed: a consent nobody can show the grant of does not count."""
    assert consent_evidence(pb.Consents(granted=["newsletter"]), "newsletter") is None
