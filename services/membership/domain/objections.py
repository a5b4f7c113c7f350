"""Objection per purpose (GDPR art. 21): the purposes a member objects to, as a set."""

from __future__ import annotations

import re

from services.common.errors import InvalidArgument

PURPOSE = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
MAX_OBJECTIONS = 20


def with_objection(current: tuple[str, ...], purpose: str, objecting: bool) -> tuple[str, ...]:
    if not PURPOSE.match(purpose):
        raise InvalidArgument({"purpose": "a purpose slug such as 'marketing' or 'newsletter'"})
    chosen = set(current) | {purpose} if objecting else set(current) - {purpose}
    if len(chosen) > MAX_OBJECTIONS:
        raise InvalidArgument({"purpose": f"at most {MAX_OBJECTIONS} objections"})
    return tuple(sorted(chosen))
