"""Objection per purpose (GDPR art. 21): the purposes a member objects to, as a set."""

from __future__ import annotations

from services.common.errors import InvalidArgument
from services.common.purposes import PURPOSE_KEY, PURPOSE_KEY_HINT

MAX_OBJECTIONS = 20


def with_objection(current: tuple[str, ...], purpose: str, objecting: bool) -> tuple[str, ...]:
    if not PURPOSE_KEY.match(purpose):
        raise InvalidArgument({"purpose": PURPOSE_KEY_HINT})
    chosen = set(current) | {purpose} if objecting else set(current) - {purpose}
    if len(chosen) > MAX_OBJECTIONS:
        raise InvalidArgument({"purpose": f"at most {MAX_OBJECTIONS} objections"})
    return tuple(sorted(chosen))
