"""Membership's retention sweep of one org under its active profile (domain/retention.py
decides what is due). A member due for deletion is erased through an erasure request filed
with the erasure service (method "retention", the attestation naming the profile's rule), never
deleted here alone: billing, notify and the sub-processors must forget them too, and the
request ends in a certificate. Each run that changed anything leaves one audit entry."""

from __future__ import annotations

import json
from datetime import date
from typing import Protocol

from sqlalchemy.engine import Row

from services.common.db.engine import Database
from services.common.errors import FailedPrecondition
from services.common.logging import get_logger
from services.common.retention import RetentionProfile, action_done
from services.common.retention_sweep import Swept, count
from services.common.sealing import Sealer, SubjectForgotten
from services.common.timestamps import as_utc
from services.membership.adapters import audit
from services.membership.adapters.privacy_requests import RequestOpen
from services.membership.adapters.retention_records import RetentionRecords
from services.membership.domain.retention import Entry, Member, due_records
from services.membership.service_layer.logins import SEALED_FIELD

log = get_logger(__name__)

ACTOR = "retention-sweep"
# A member the org's own retention profile says is due: the profile's rule is the reason,
# named in the attestation.
IDENTITY_METHOD = "retention"
LOCATION_FIELDS = ("ip", "country", "city")


class PrivacyRequests(Protocol):
    async def file_verified(
        self, org_id: str, member_id: str, type_: str, method: str, attestation: str
    ) -> object:
        """Files and verifies a request; RequestOpen when one is open and verified,
        FailedPrecondition when the member is gone."""
        ...


class MembershipRetention:
    def __init__(self, database: Database, sealer: Sealer, erasures: PrivacyRequests) -> None:
        self.database = database
        self.sealer = sealer
        self.erasures = erasures

    async def sweep_org(self, org_id: str, profile: RetentionProfile, today: date) -> Swept:
        async with self.database.sessions() as session:
            records = RetentionRecords(session)
            changed_at = await records.status_changes(org_id)
            members = [
                Member(
                    r.id,
                    r.status,
                    as_utc(r.registered_at),
                    r.period_start,
                    as_utc(changed_at[r.id]) if r.id in changed_at else None,
                )
                for r in await records.members(org_id)
            ]
            logins = await records.logins(org_id)
            consents = [
                Entry(r.id, r.member_id, as_utc(r.at), r.purpose, r.granted)
                for r in await records.consents(org_id)
            ]
            entries = [
                Entry(r.id, r.object_id, as_utc(r.at)) for r in await records.audit_entries(org_id)
            ]
        due = due_records(
            profile,
            lambda: today,
            members,
            [Entry(r.id, r.member_id, as_utc(r.at)) for r in logins],
            consents,
            entries,
        )
        swept: Swept = {}
        for category, table, ids in (
            ("login-log", "login_log", due.logins),
            ("consents", "consents", due.consents),
            ("audit-entries", "audit_log", due.audit_entries),
        ):
            if ids:
                async with self.database.transaction() as session:
                    removed = await RetentionRecords(session).delete(table, org_id, ids)
                count(swept, category, _action(profile, category), removed)
        sealed = {r.id: r for r in logins}
        stripping = [*due.anonymised_logins, *due.locations]
        if stripping:
            # One keyring call for the run, not one per member.
            await self.sealer.prefetch(sorted({sealed[i].member_id for i in stripping}))
        for category, ids in (
            ("login-log", due.anonymised_logins),
            ("ip-location", due.locations),
        ):
            for login_id in ids:
                if await self._strip_location(org_id, sealed[login_id]):
                    count(swept, category, _action(profile, category), 1)
        try:
            await self._file_erasures(org_id, profile, due.erase, swept)
        finally:
            if swept:
                async with self.database.transaction() as session:
                    await audit.record(
                        session,
                        org_id,
                        audit.Change(
                            ACTOR,
                            "retention.swept",
                            org_id,
                            (
                                f"profile:{profile.name}:v{profile.version}",
                                *(f"{c}:{a}:{n}" for (c, a), n in sorted(swept.items())),
                            ),
                        ),
                    )
        return swept

    async def _file_erasures(
        self, org_id: str, profile: RetentionProfile, member_ids: list[str], swept: Swept
    ) -> None:
        rule = profile.rule_for("member-record")
        if rule is None:
            return
        attestation = (
            f"retention profile {profile.name} v{profile.version}: member-record, "
            f"kept {rule.keep} after {rule.after}"
        )
        for member_id in member_ids:
            try:
                await self.erasures.file_verified(
                    org_id, member_id, "erasure", IDENTITY_METHOD, attestation
                )
            except (RequestOpen, FailedPrecondition):
                continue  # an open request is erasing them, or they are gone
            count(swept, "member-record", "erasure-requested", 1)

    async def _strip_location(self, org_id: str, row: Row) -> bool:
        """The session stays (time, kind, device); its IP address and place go. False when
        there was none left to remove."""
        member_id: str = row.member_id
        try:
            plain = await self.sealer.unseal(member_id, {SEALED_FIELD: row.details_sealed})
        except SubjectForgotten:
            return False  # erased meanwhile: its rows go with the key
        details = json.loads(plain[SEALED_FIELD])
        if not any(details.get(f) for f in LOCATION_FIELDS):
            return False
        details.update(dict.fromkeys(LOCATION_FIELDS, ""))
        resealed = await self.sealer.seal(member_id, {SEALED_FIELD: json.dumps(details)})
        async with self.database.transaction() as session:
            await RetentionRecords(session).reseal_login(org_id, row.id, resealed[SEALED_FIELD])
        return True


def _action(profile: RetentionProfile, category: str) -> str:
    return action_done(profile.rule_for(category))
