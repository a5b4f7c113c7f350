"""The member's self-service privacy page: asking for a link by email, opening it, and the
three things the page offers: correct contact details, download everything, be deleted.

Asking for a link answers the same whoever asks (no member enumeration); for a member it
stamps the member's row and writes `membership.privacy-link-requested.v1` (ids only) in one
transaction, at most once per PRIVACY_LINK_RESEND_S. Notify consumes it and asks for the link
itself (GetPrivacyLink) when it queues the email, so the link never travels on a topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from membership.v1 import events_pb2
from privacy.v1 import requests_pb2

from services.common.envelope import new_envelope
from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.common.grpc.auth import Principal
from services.common.outbox import add_event
from services.common.sealing import blind_index
from services.common.topics import PRIVACY_LINK_REQUESTED
from services.membership.adapters.privacy_link_stamps import stamp_if_due
from services.membership.adapters.privacy_requests import PrivacyRequestsClient, RequestOpen
from services.membership.adapters.repository import Repository
from services.membership.domain.orgs import OrgProfile
from services.membership.domain.privacy_links import (
    LinkCheck,
    PrivacyLinks,
    SignedLink,
    resend_cutoff,
)
from services.membership.domain.validation import email_lookup_form, normalise_email
from services.membership.metrics import PRIVACY_LINKS_REQUESTED, PRIVACY_PAGE_ACTIONS
from services.membership.service_layer.handlers import MembershipHandlers, MemberView
from services.membership.service_layer.members import MemberRights
from services.membership.service_layer.subject_store import MemberSubjectStore

# How the audit log names the member acting on their own privacy page.
PAGE_ACTOR = "member:privacy-page"
# The member's own request: the signed link emailed to their address on record is the check.
IDENTITY_METHOD = "email-link"
IDENTITY_ATTESTATION = (
    "Filed by the member on the privacy page, opened through a signed, expiring link "
    "emailed to the member's address on record."
)
EDITABLE = ("name", "email", "phone")
ACCESS, ERASURE = "access", "erasure"

SENT, RATE_LIMITED, NO_MEMBER = "sent", "rate-limited", "no-member"


@dataclass(frozen=True)
class OpenedPage:
    """A valid link's member as the page shows them: the record and what membership's Export
    holds (form answers, consents, the login log)."""

    org_id: str
    member_id: str
    member: MemberView
    data: dict[str, Any]


class LinkRefused(Exception):
    """The link does not open the page: `reason` is "invalid" (forged, tampered with,
    malformed), "expired", or "gone" (the member was erased since)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class PrivacySelfService:
    def __init__(
        self,
        handlers: MembershipHandlers,
        store: MemberSubjectStore,
        links: PrivacyLinks,
        requests: PrivacyRequestsClient,
        resend_interval_s: float,
    ) -> None:
        self.handlers = handlers
        self.rights = MemberRights(handlers)
        self.store = store
        self.links = links
        self.requests = requests
        self.resend_interval_s = resend_interval_s

    async def org(self, org_id: str) -> OrgProfile:
        org = await self.handlers.org(org_id) if org_id else None
        if org is None:
            raise NotFound("no such org")
        return org

    async def request_link(self, org_id: str, email: str) -> str:
        """The outcome, for metrics only: the caller answers every outcome alike."""
        try:
            lookup = email_lookup_form(normalise_email(email))
        except ValueError as exc:
            raise InvalidArgument({"email": str(exc)}) from exc
        now = datetime.now(UTC)
        index = blind_index(self.handlers.index_key, org_id, lookup)
        async with self.handlers.database.transaction() as session:
            member_id = await Repository(session).member_id_by_email_index(org_id, index)
            if member_id is None:
                outcome = NO_MEMBER
            elif not await stamp_if_due(
                session, org_id, member_id, now, resend_cutoff(now, self.resend_interval_s)
            ):
                outcome = RATE_LIMITED
            else:
                payload = events_pb2.PrivacyLinkRequested(member_id=member_id, org_id=org_id)
                await add_event(
                    session,
                    PRIVACY_LINK_REQUESTED,
                    new_envelope(
                        "membership.privacy-link-requested",
                        payload,
                        org_id=org_id,
                        subject_id=member_id,
                    ),
                )
                outcome = SENT
        if outcome == SENT:
            self.handlers.relay.wake()
        PRIVACY_LINKS_REQUESTED.labels(outcome).inc()
        return outcome

    async def link_for(self, org_id: str, member_id: str) -> SignedLink:
        """A fresh link for a member who still exists (NotFound otherwise)."""
        await self.handlers.get_member(org_id, member_id)
        return self.links.sign(org_id, member_id)

    def checked(self, token: str) -> LinkCheck:
        check = self.links.check(token)
        if not check.org_id:
            raise LinkRefused("invalid")
        if check.expired:
            raise LinkRefused("expired")
        return check

    async def open(self, token: str) -> OpenedPage:
        check = self.checked(token)
        try:
            member = await self.handlers.get_member(check.org_id, check.member_id)
        except NotFound as exc:
            raise LinkRefused("gone") from exc
        data = await self.store.export(check.org_id, check.member_id)
        return OpenedPage(check.org_id, check.member_id, member, data)

    async def edit(self, page: OpenedPage, fields: dict[str, str]) -> MemberView:
        """Rectification through UpdateMember's own path (same rules, audited by field name,
        the member as actor). InvalidArgument or AlreadyExists change nothing."""
        changes = {f: fields.get(f, "") for f in EDITABLE}
        try:
            updated = await self.rights.update(
                Principal(kind=PAGE_ACTOR, org_id=page.org_id), page.member_id, changes
            )
        except (InvalidArgument, AlreadyExists, NotFound):
            PRIVACY_PAGE_ACTIONS.labels("edit", "refused").inc()
            raise
        PRIVACY_PAGE_ACTIONS.labels("edit", "ok").inc()
        return updated

    async def file(self, page: OpenedPage, type_: str) -> requests_pb2.PrivacyRequest:
        """An access (download) or erasure request, filed and verified; RequestOpen when one
        is being handled already, FailedPrecondition when the member is erased already."""
        action = "download" if type_ == ACCESS else "erasure"
        try:
            filed = await self.requests.file_verified(
                page.org_id, page.member_id, type_, IDENTITY_METHOD, IDENTITY_ATTESTATION
            )
        except RequestOpen:
            PRIVACY_PAGE_ACTIONS.labels(action, "already-open").inc()
            raise
        PRIVACY_PAGE_ACTIONS.labels(action, "filed").inc()
        return filed
