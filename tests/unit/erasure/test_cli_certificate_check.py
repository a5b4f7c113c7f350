"""The CLI's certificate check: another erasure's certificate, whole and internally sound, is
refused when shown for this request."""

from __future__ import annotations

from kontingent_cli.erasure import certificate_problems
from services.erasure.domain.certificate import chain

BODIES = [
    {"target": "membership", "action": "deleted"},
    {"target": "keyring", "action": "key-shredded"},
]


def test_a_certificate_issued_for_the_request_verifies() -> None:
    entries = chain("req-1", BODIES)
    assert certificate_problems("req-1", entries, entries[-1].hash) == []


def test_another_requests_certificate_is_refused_entry_by_entry() -> None:
    entries = chain("req-2", BODIES)  # its chain and head are sound
    assert certificate_problems("req-1", entries, entries[-1].hash) == [
        "entry 0: issued for request req-2, not req-1",
        "entry 1: issued for request req-2, not req-1",
    ]
