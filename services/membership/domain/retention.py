"""Which of an org's membership records its retention profile makes due today. No I/O: the
sweep (service_layer/retention.py) reads the records, asks here, and acts.

- member-record: a member whose relationship ended (cancelled or lapsed, from the newest
  status change) or who has been inactive past the rule is erased through an erasure request,
  so every store and sub-processor forgets them; their other records are left to it.
- login-log: beyond the newest `keep_last` of each member, and any session past its period
  (anonymised: its IP address and place go, as for ip-location).
- ip-location: the IP address and place of a session past its period (the session stays).
- consents: history rows past their period; a consent in force (the newest row of its purpose,
  a grant) stays, since it is the evidence that its processing is allowed.
- audit-entries: entries about a member, past their period.

A member's last activity is the newest of: registration, the start of a paid period, a
session, a consent given or withdrawn.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from services.common.clock import Clock
from services.common.retention import (
    RELATIONSHIP_ENDED,
    RecordDates,
    RetentionProfile,
    beyond_last,
    decide,
    oslo_day,
)

ENDED = RELATIONSHIP_ENDED


@dataclass(frozen=True)
class Member:
    id: str
    status: str
    registered_at: datetime
    period_start: date | None
    status_changed_at: datetime | None  # newest audited status change


@dataclass(frozen=True)
class Entry:
    """A session, consent row or audit entry of a member."""

    id: int
    member_id: str
    at: datetime
    purpose: str = ""  # consents only
    granted: bool = True  # consents only


@dataclass
class Due:
    erase: list[str] = field(default_factory=list)  # member ids, for an erasure request
    logins: list[int] = field(default_factory=list)
    anonymised_logins: list[int] = field(default_factory=list)  # lose their IP and place
    locations: list[int] = field(default_factory=list)  # sessions whose IP and place go
    consents: list[int] = field(default_factory=list)
    audit_entries: list[int] = field(default_factory=list)


def member_dates(member: Member, activity: list[datetime]) -> RecordDates:
    days = [oslo_day(member.registered_at), *(oslo_day(at) for at in activity)]
    if member.period_start is not None:
        days.append(member.period_start)
    ended = None
    if member.status in ENDED:
        # No audited change left (an audit rule took it): the registration is the last known
        # moment, so the member is treated as ended long ago.
        ended = member.status_changed_at or member.registered_at
    return RecordDates(
        collected_at=member.registered_at,
        last_activity_at=max(days),
        relationship_ended_at=ended,
    )


def due_records(
    profile: RetentionProfile,
    clock: Clock,
    members: list[Member],
    logins: list[Entry],
    consents: list[Entry],
    audit_entries: list[Entry],
) -> Due:
    by_member: dict[str, list[datetime]] = defaultdict(list)
    for entry in (*logins, *consents):
        by_member[entry.member_id].append(entry.at)
    dates = {m.id: member_dates(m, by_member[m.id]) for m in members}
    due = Due()
    for member in members:
        if decide(profile, "member-record", dates[member.id], clock).due:
            due.erase.append(member.id)
    erased = set(due.erase)
    # Records of members no longer known here (or being erased) are not this sweep's.
    kept = {m: d for m, d in dates.items() if m not in erased}

    def past(category: str, entry: Entry, withdrawn: datetime | None = None) -> bool:
        base = kept[entry.member_id]
        record = RecordDates(
            collected_at=entry.at,
            last_activity_at=base.last_activity_at,
            relationship_ended_at=base.relationship_ended_at,
            consent_withdrawn_at=withdrawn,
        )
        return decide(profile, category, record, clock).due

    own_logins = [e for e in logins if e.member_id in kept]
    login_rule = profile.rule_for("login-log")
    going: set[int] = set()
    if login_rule is not None:
        if login_rule.keep_last is not None:
            per_member: dict[str, list[Entry]] = defaultdict(list)
            for entry in own_logins:
                per_member[entry.member_id].append(entry)
            for entries in per_member.values():
                going.update(e.id for e in beyond_last(profile, "login-log", entries, _at))
        if login_rule.keep is not None:
            going.update(e.id for e in own_logins if past("login-log", e))
    if login_rule is not None and login_rule.action == "anonymise":
        # An anonymised session keeps its time, kind and device, without IP address or place.
        due.anonymised_logins = sorted(going)
    else:
        due.logins = sorted(going)
    due.locations = sorted(e.id for e in own_logins if e.id not in going and past("ip-location", e))

    newest: dict[tuple[str, str], Entry] = {}
    for entry in consents:
        if entry.member_id in kept:
            newest[(entry.member_id, entry.purpose)] = entry  # rows come oldest first
    in_force = {e.id for e in newest.values() if e.granted}
    due.consents = [
        e.id
        for e in consents
        if e.member_id in kept
        and e.id not in in_force
        and past("consents", e, withdrawn=None if e.granted else e.at)
    ]
    due.audit_entries = [
        e.id for e in audit_entries if e.member_id in kept and past("audit-entries", e)
    ]
    return due


def _at(entry: Entry) -> datetime:
    return entry.at
