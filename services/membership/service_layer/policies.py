"""Privacy policy and terms versions. A material change asks every member who accepted an
older version to accept again: they are counted, listed, and each one announced."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlparse

from membership.v1 import events_pb2
from sqlalchemy.exc import IntegrityError

from services.common.envelope import new_envelope
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.grpc.auth import Principal
from services.common.outbox import add_event
from services.common.topics import POLICY_PUBLISHED, RECONSENT_REQUESTED
from services.membership.adapters import audit
from services.membership.adapters import policies as policy_table
from services.membership.adapters.audit import Change
from services.membership.domain.orgs import POLICY_KINDS, PRIVACY, TERMS
from services.membership.metrics import POLICIES_PUBLISHED
from services.membership.service_layer.handlers import MembershipHandlers, MemberView
from services.membership.service_layer.members import change_member

MAX_SUMMARY = 2000


@dataclass(frozen=True)
class Policy:
    kind: str
    version: int
    url: str
    summary: str
    material: bool
    published_at: datetime
    members_to_reconsent: int = 0


def validate_policy(kind: str, url: str, summary: str) -> tuple[str, str, str]:
    errors: dict[str, str] = {}
    kind = kind or PRIVACY
    if kind not in POLICY_KINDS:
        errors["kind"] = f"one of {', '.join(POLICY_KINDS)}"
    parsed = urlparse(url.strip())
    if parsed.scheme != "https" or not parsed.netloc or len(url) > 500:
        errors["url"] = "an https address where members can read it"
    if len(summary) > MAX_SUMMARY:
        errors["summary"] = f"at most {MAX_SUMMARY} characters"
    if errors:
        raise InvalidArgument(errors)
    return kind, url.strip(), summary.strip()


class Policies:
    def __init__(self, handlers: MembershipHandlers) -> None:
        self.handlers = handlers
        self.database = handlers.database

    async def publish(
        self, caller: Principal, kind: str, url: str, summary: str, material: bool
    ) -> Policy:
        kind, url, summary = validate_policy(kind, url, summary)
        org_id = caller.org_id
        now = datetime.now(UTC)
        try:
            async with self.database.transaction() as session:
                state = await policy_table.state(session, org_id)
                version = state.get(kind, (0, 0))[0] + 1
                await policy_table.add(
                    session,
                    {
                        "org_id": org_id,
                        "kind": kind,
                        "version": version,
                        "url": url,
                        "summary": summary,
                        "material": material,
                        "published_at": now,
                    },
                )
                to_reconsent: list[str] = []
                if material:
                    privacy = version if kind == PRIVACY else state.get(PRIVACY, (0, 0))[1]
                    terms = version if kind == TERMS else state.get(TERMS, (0, 0))[1]
                    to_reconsent = await policy_table.members_to_reconsent(
                        session, org_id, privacy, terms
                    )
                for member_id in to_reconsent:
                    await add_event(
                        session,
                        RECONSENT_REQUESTED,
                        new_envelope(
                            "membership.reconsent-requested",
                            events_pb2.ReconsentRequested(
                                member_id=member_id, org_id=org_id, kind=kind, version=version
                            ),
                            org_id=org_id,
                            subject_id=member_id,
                        ),
                    )
                await add_event(
                    session,
                    POLICY_PUBLISHED,
                    new_envelope(
                        "membership.policy-published",
                        events_pb2.PolicyPublished(
                            org_id=org_id,
                            kind=kind,
                            version=version,
                            material=material,
                            members_to_reconsent=len(to_reconsent),
                        ),
                        org_id=org_id,
                    ),
                )
                await audit.record(
                    session,
                    org_id,
                    Change(
                        caller.actor,
                        "policy.published",
                        f"{kind}:{version}",
                        ("url", "summary", "material"),
                    ),
                )
        except IntegrityError as exc:
            raise FailedPrecondition(
                f"another {kind} version was published at the same time; publish again"
            ) from exc
        self.handlers.forget_org(org_id)
        self.handlers.relay.wake()
        POLICIES_PUBLISHED.labels(kind, str(material).lower()).inc()
        return Policy(kind, version, url, summary, material, now, len(to_reconsent))

    async def list(self, org_id: str, kind: str) -> list[Policy]:
        if kind and kind not in POLICY_KINDS:
            raise InvalidArgument({"kind": f"one of {', '.join(POLICY_KINDS)}"})
        async with self.database.sessions() as session:
            rows = await policy_table.versions(session, org_id, kind or None)
        return [
            Policy(r.kind, r.version, r.url, r.summary, r.material, r.published_at) for r in rows
        ]

    async def accept(
        self, caller: Principal, member_id: str, policy_version: int, terms_version: int
    ) -> MemberView:
        """The member accepts what is in force now; older versions can no longer be accepted."""
        current = await self.handlers.get_member(caller.org_id, member_id)
        org = await self.handlers.org(caller.org_id)
        if org is None:
            raise NotFound("org not found")
        errors = org.acceptance_errors(
            policy_version, terms_version if terms_version else org.terms.current
        )
        if errors:
            raise InvalidArgument(errors)
        values = {"policy_version": policy_version, "terms_version": org.terms.current}
        changed = tuple(f for f, v in values.items() if getattr(current, f) != v)
        if changed:
            await change_member(
                self.database, caller, member_id, "member.policy-accepted", changed, values
            )
        return await self.handlers.get_member(caller.org_id, member_id)
