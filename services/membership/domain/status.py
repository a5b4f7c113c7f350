"""Membership status and the changes a member's own request may make to it."""

from __future__ import annotations

from services.common.errors import FailedPrecondition, InvalidArgument

PENDING = "pending"
ACTIVE = "active"
GRACE = "grace"
LAPSED = "lapsed"
CANCELLED = "cancelled"
STATUSES = (PENDING, ACTIVE, GRACE, LAPSED, CANCELLED)


def parse_status_filter(status: str) -> str | None:
    if not status:
        return None
    if status not in STATUSES:
        raise InvalidArgument({"status": f"one of {', '.join(STATUSES)}"})
    return status


def cancelled_from(current: str) -> str:
    """A member may cancel from any status but cancelled."""
    if current == CANCELLED:
        raise FailedPrecondition("the membership is already cancelled")
    return CANCELLED
