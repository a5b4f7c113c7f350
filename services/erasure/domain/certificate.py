"""The erasure certificate: one entry per target and one for the key shredding, chained by
hash so that changing, dropping or reordering an entry shows. Pure functions, shared by the
service (which issues and checks certificates) and the CLI (which checks what it is shown)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64  # the "previous hash" of the first entry

DELETED = "deleted"
PSEUDONYMISED = "pseudonymised"
KEPT = "kept-with-basis-and-date"
NOTHING_HELD = "nothing-held"
KEY_SHREDDED = "key-shredded"
# The member's erasure-confirmed message: sent (accepted by the provider), or why not.
MEMBER_TOLD = "member-told"
MEMBER_NOT_TOLD = "member-not-told"


def canonical(body: dict[str, Any]) -> str:
    """One text per body: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def action_of(removed: list[dict[str, Any]], kept: list[dict[str, Any]]) -> str:
    """The entry's headline: what stays matters most (kept, then pseudonymised)."""
    if any(not k.get("pseudonymised") for k in kept):
        return KEPT
    if kept:
        return PSEUDONYMISED
    return DELETED if removed else NOTHING_HELD


@dataclass(frozen=True)
class Entry:
    canonical_json: str
    hash: str


def chain(request_id: str, bodies: list[dict[str, Any]]) -> list[Entry]:
    """Entries in the given order, each naming its position and the previous entry's hash."""
    entries: list[Entry] = []
    previous = GENESIS
    for seq, body in enumerate(bodies):
        text = canonical({**body, "request_id": request_id, "seq": seq, "prev_hash": previous})
        previous = digest(text)
        entries.append(Entry(text, previous))
    return entries


def verify(entries: list[Entry], head_hash: str) -> list[str]:
    """What is wrong with the chain, entry by entry; empty when it verifies."""
    problems: list[str] = []
    previous = GENESIS
    for seq, entry in enumerate(entries):
        try:
            body = json.loads(entry.canonical_json)
        except ValueError:
            problems.append(f"entry {seq}: not JSON")
            previous = digest(entry.canonical_json)
            continue
        actual = digest(entry.canonical_json)
        if canonical(body) != entry.canonical_json:
            problems.append(f"entry {seq}: not in canonical form")
        if body.get("seq") != seq:
            problems.append(f"entry {seq}: names position {body.get('seq')}")
        if body.get("prev_hash") != previous:
            problems.append(f"entry {seq}: does not chain to the previous entry")
        if entry.hash != actual:
            problems.append(f"entry {seq}: its hash does not match its content")
        previous = actual
    if not entries:
        problems.append("the certificate has no entries")
    elif previous != head_hash:
        problems.append("the last entry does not match the certificate's head hash")
    return problems
