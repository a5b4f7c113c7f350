"""Data-subject requests: their types, the status flow, and the deadline rules (GDPR art. 12(3):
one month from receipt, extendable once by up to two further months, the member told within
the first month). Dates are calendar days in Europe/Oslo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from dateutil.relativedelta import relativedelta

from services.common.clock import OSLO
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.purposes import PURPOSE_KEY, PURPOSE_KEY_HINT

TYPES = ("access", "portability", "erasure", "restriction", "objection")
# Restriction (art. 18) and objection (art. 21) are flags membership holds and every service
# reads with the contact details: such a request is one task, setting the flag there.
MEMBERSHIP_TYPES = frozenset({"restriction", "objection"})
# Access (art. 15) and portability (art. 20) are one task too: every store's export, merged,
# archived behind a one-time link (services/erasure/service_layer/exports.py).
EXPORT_TYPES = frozenset({"access", "portability"})
EXPORT_TARGET = "member-export"
# The task that applies a restriction or an objection, named apart from the erasure targets
# (where "membership" means its DataSubjectStore.Erase) so that neither runner takes the
# other's work for its own.
MEMBERSHIP_TARGETS = {t: f"membership-{t}" for t in sorted(MEMBERSHIP_TYPES)}


def one_task_of(type_: str) -> str | None:
    """The one task a verified request of this type gets; None for an erasure, which gets a
    plan of every target instead."""
    return EXPORT_TARGET if type_ in EXPORT_TYPES else MEMBERSHIP_TARGETS.get(type_)


RECEIVED = "received"
IDENTITY_VERIFIED = "identity_verified"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
STATUSES = (RECEIVED, IDENTITY_VERIFIED, IN_PROGRESS, COMPLETED)
OPEN_STATUSES = (RECEIVED, IDENTITY_VERIFIED, IN_PROGRESS)
# A request that cannot finish (a target that keeps failing) stays in_progress: open and
# alerting, never completed.
NEXT = {
    RECEIVED: frozenset({IDENTITY_VERIFIED}),
    IDENTITY_VERIFIED: frozenset({IN_PROGRESS}),
    IN_PROGRESS: frozenset({COMPLETED}),
    COMPLETED: frozenset(),
}

MAX_EXTENSION_MONTHS = 2
AT_RISK_DAYS = 7
MAX_TEXT = 500


def oslo_date(moment: datetime) -> date:
    return moment.astimezone(OSLO).date()


def due_date(received_at: datetime) -> date:
    """One calendar month after the Oslo day of receipt; a month without that day ends on
    its last day (31 January -> 28/29 February)."""
    return oslo_date(received_at) + relativedelta(months=1)


def purpose_problem(type_: str, purpose: str) -> str | None:
    """What is wrong with a request's purpose: an objection names the purpose objected to
    (checked as membership checks it, so a request never fails there on its key); no other
    type has one."""
    if type_ != "objection":
        return "only an objection names a purpose" if purpose else None
    if not purpose:
        return "required for an objection: the purpose objected to"
    return None if PURPOSE_KEY.match(purpose) else PURPOSE_KEY_HINT


def require_transition(current: str, new: str) -> None:
    if new not in NEXT[current]:
        raise FailedPrecondition(f"a request that is {current} cannot become {new}")


@dataclass(frozen=True)
class Extension:
    months: int
    reason: str
    new_due_date: date


def extend(
    *,
    received_on: date,
    already_extended: int,
    status: str,
    months: int,
    reason: str,
    member_told: bool,
    today: date,
) -> Extension:
    """Checks an extension against the rules and returns it; every broken rule is named. The
    new date is counted from the day of receipt, not from the first due date, which a short
    month may have cut (received 31 January: due 28 February, extended by two: 30 April)."""
    original_due = received_on + relativedelta(months=1)
    errors = {}
    if not 1 <= months <= MAX_EXTENSION_MONTHS:
        errors["months"] = f"between 1 and {MAX_EXTENSION_MONTHS}"
    if not reason.strip():
        errors["reason"] = "required: the member is told why"
    elif len(reason) > MAX_TEXT:
        errors["reason"] = f"at most {MAX_TEXT} characters"
    if not member_told:
        errors["member_told"] = "the member must be told of the extension within the first month"
    if errors:
        raise InvalidArgument(errors)
    if status not in OPEN_STATUSES:
        raise FailedPrecondition(f"a {status} request cannot be extended")
    if already_extended:
        raise FailedPrecondition("the deadline was already extended once")
    if today > original_due:
        raise FailedPrecondition(
            f"the first month ended on {original_due.isoformat()}: too late to extend"
        )
    return Extension(months, reason.strip(), received_on + relativedelta(months=1 + months))


def days_left(due: date, today: date) -> int:
    return (due - today).days


def at_risk(due: date, today: date) -> bool:
    return days_left(due, today) <= AT_RISK_DAYS
