"""The certificate's hash chain: it verifies as issued, and any change to an entry, its order
or its end shows."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

from services.erasure.domain import certificate
from services.erasure.domain.certificate import Entry, chain, digest, verify

BODIES = [
    {"target": "membership", "action": "deleted", "removed": [{"category": "contact", "count": 1}]},
    {"target": "billing", "action": "pseudonymised", "kept": [{"delete_after": "2031-12-31"}]},
    {"target": "keyring", "action": "key-shredded"},
]


def test_each_entry_names_the_hash_of_the_previous_entrys_canonical_json() -> None:
    entries = chain("req-1", BODIES)
    assert json.loads(entries[0].canonical_json)["prev_hash"] == certificate.GENESIS
    for previous, entry in itertools.pairwise(entries):
        assert json.loads(entry.canonical_json)["prev_hash"] == digest(previous.canonical_json)
    assert verify(entries, entries[-1].hash) == []


def test_a_tampered_entry_fails_verification() -> None:
    entries = chain("req-1", BODIES)
    body = json.loads(entries[1].canonical_json)
    body["action"] = "deleted"  # claims billing deleted what it kept
    tampered = [
        entries[0],
        Entry(certificate.canonical(body), digest(certificate.canonical(body))),
        entries[2],
    ]
    assert verify(tampered, entries[-1].hash) == ["entry 2: does not chain to the previous entry"]


def test_a_changed_hash_a_dropped_entry_or_a_new_head_fails() -> None:
    entries = chain("req-1", BODIES)
    assert "entry 0: its hash does not match its content" in verify(
        [replace(entries[0], hash="f" * 64), *entries[1:]], entries[-1].hash
    )
    assert verify(entries[:2], entries[-1].hash) == [
        "the last entry does not match the certificate's head hash"
    ]
    assert verify([entries[0], entries[2]], entries[-1].hash)[:2] == [
        "entry 1: names position 2",
        "entry 1: does not chain to the previous entry",
    ]
    assert verify([], "") == ["the certificate has no entries"]


def test_an_entry_rewritten_out_of_canonical_form_fails() -> None:
    entries = chain("req-1", BODIES)
    loose = json.dumps(json.loads(entries[2].canonical_json), indent=1)
    assert "entry 2: not in canonical form" in verify(
        [*entries[:2], Entry(loose, digest(loose))], digest(loose)
    )
