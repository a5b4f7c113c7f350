"""gRPC entry points: translate messages to use cases and back, nothing more."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC

import grpc
from membership.v1 import membership_pb2 as pb
from membership.v1 import membership_pb2_grpc

from services.common.errors import InvalidArgument, Unauthenticated
from services.common.grpc.auth import acting_for, current_principal
from services.common.timestamps import to_timestamp
from services.membership.domain.forms import DEFAULT_FORM
from services.membership.domain.guardians import Guardian
from services.membership.entrypoints.grpc_org import OrgSettingsRpcs, consents_message
from services.membership.entrypoints.grpc_types import MembershipTypeRpcs
from services.membership.service_layer.api_keys import ApiKeyHandlers, KeyInfo
from services.membership.service_layer.audit_log import audit_page
from services.membership.service_layer.consents import ConsentRegister
from services.membership.service_layer.handlers import MembershipHandlers, MemberView
from services.membership.service_layer.logins import Login, LoginLog
from services.membership.service_layer.members import MemberRights
from services.membership.service_layer.membership_types import MembershipTypes
from services.membership.service_layer.orgs import OrgSettings, org_contacts_page
from services.membership.service_layer.policies import Policies
from services.membership.service_layer.privacy_links import PrivacySelfService
from services.membership.service_layer.signup import SignupRequest, Signups
from services.membership.service_layer.subject_store import restore_tombstones


def member_message(view: MemberView) -> pb.Member:
    return pb.Member(
        member_id=view.member_id,
        org_id=view.org_id,
        name=view.name,
        email=view.email,
        phone=view.phone,
        language=view.language,
        status=view.status,
        registered_at=to_timestamp(view.registered_at),
        restricted=view.restricted,
        objections=list(view.objections),
        membership_type_id=view.membership_type_id,
        period_start=view.period_start.isoformat() if view.period_start else "",
        period_end=view.period_end.isoformat() if view.period_end else "",
        form_key=view.form.definition.key if view.form else DEFAULT_FORM,
        form_version=view.form.version if view.form else 0,
        answers={k: answer_text(v) for k, v in view.answers.items()},
        consents=list(view.consents),
        policy_version=view.policy_version,
        terms_version=view.terms_version,
        needs_reconsent=view.needs_reconsent,
        guardian=pb.Guardian(**asdict(view.guardian)) if view.guardian else None,
    )


def answer_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def login_message(login: Login) -> pb.LoginEntry:
    d = login.details
    return pb.LoginEntry(
        kind=login.kind,
        at=to_timestamp(login.at),
        device=d.device,
        ip=d.ip,
        country=d.country,
        city=d.city,
    )


def key_message(key: KeyInfo) -> pb.ApiKeyInfo:
    return pb.ApiKeyInfo(
        key_id=key.key_id,
        label=key.label,
        scopes=list(key.scopes),
        created_at=to_timestamp(key.created_at),
        revoked_at=to_timestamp(key.revoked_at),
    )


def created_key_message(created: tuple[KeyInfo, str]) -> pb.CreatedApiKey:
    key, plaintext = created
    return pb.CreatedApiKey(key=key_message(key), api_key=plaintext)


class MembershipServicer(
    OrgSettingsRpcs, MembershipTypeRpcs, membership_pb2_grpc.MembershipServiceServicer
):
    def __init__(
        self,
        handlers: MembershipHandlers,
        keys: ApiKeyHandlers,
        rights: MemberRights,
        logins: LoginLog,
    ) -> None:
        self.handlers = handlers
        self.keys = keys
        self.rights = rights
        self.logins = logins
        self.orgs = OrgSettings(handlers)
        self.policies = Policies(handlers)
        self.forms = handlers.forms
        self.consents = ConsentRegister(handlers)
        self.signups = Signups(handlers)
        self.types = MembershipTypes(handlers)

    async def AcceptPolicy(
        self, request: pb.AcceptPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.Member:
        return member_message(
            await self.policies.accept(
                current_principal(),
                request.member_id,
                request.policy_version,
                request.terms_version,
            )
        )

    async def RecordLogin(
        self, request: pb.RecordLoginRequest, context: grpc.aio.ServicerContext
    ) -> pb.LoginEntry:
        try:
            at = request.at.ToDatetime(tzinfo=UTC) if request.HasField("at") else None
        except ValueError as exc:  # seconds or nanos outside what a Timestamp may hold
            raise InvalidArgument({"at": "not a valid timestamp"}) from exc
        login = await self.logins.record(
            current_principal().org_id,
            request.member_id,
            request.kind,
            at,
            request.device,
            request.ip,
            request.country,
            request.city,
        )
        return login_message(login)

    async def ListLogins(
        self, request: pb.ListLoginsRequest, context: grpc.aio.ServicerContext
    ) -> pb.LoginEntries:
        logins = await self.logins.list(current_principal().org_id, request.member_id)
        return pb.LoginEntries(entries=[login_message(login) for login in logins])

    async def ListMembers(
        self, request: pb.ListMembersRequest, context: grpc.aio.ServicerContext
    ) -> pb.Members:
        page = await self.rights.list(
            current_principal().org_id,
            request.page_size,
            request.page_token,
            status=request.status,
            type_id=request.membership_type_id,
            needs_reconsent=request.needs_reconsent,
        )
        return pb.Members(
            members=[member_message(m) for m in page.members], next_page_token=page.next_token
        )

    async def UpdateMember(
        self, request: pb.UpdateMemberRequest, context: grpc.aio.ServicerContext
    ) -> pb.Member:
        changes = {path: getattr(request, path, "") for path in request.update_mask.paths}
        return member_message(
            await self.rights.update(current_principal(), request.member_id, changes)
        )

    async def SetRestriction(
        self, request: pb.SetRestrictionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Member:
        return member_message(
            await self.rights.restrict(
                acting_for(request.org_id), request.member_id, request.restricted
            )
        )

    async def SetObjection(
        self, request: pb.SetObjectionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Member:
        return member_message(
            await self.rights.object_to(
                acting_for(request.org_id), request.member_id, request.purpose, request.objecting
            )
        )

    async def CancelMembership(
        self, request: pb.CancelMembershipRequest, context: grpc.aio.ServicerContext
    ) -> pb.Member:
        return member_message(await self.rights.cancel(current_principal(), request.member_id))

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreatedApiKey:
        return created_key_message(
            await self.keys.create(current_principal(), list(request.scopes), request.label)
        )

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> pb.ApiKeys:
        keys = await self.keys.list(current_principal().org_id, request.include_revoked)
        return pb.ApiKeys(keys=[key_message(key) for key in keys])

    async def RevokeApiKey(
        self, request: pb.ApiKeyRef, context: grpc.aio.ServicerContext
    ) -> pb.ApiKeyInfo:
        return key_message(await self.keys.revoke(current_principal(), request.key_id))

    async def RotateApiKey(
        self, request: pb.ApiKeyRef, context: grpc.aio.ServicerContext
    ) -> pb.CreatedApiKey:
        return created_key_message(await self.keys.rotate(current_principal(), request.key_id))

    async def ListAuditEntries(
        self, request: pb.ListAuditEntriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.AuditEntries:
        page = await audit_page(
            self.handlers.database,
            current_principal().org_id,
            request.page_size,
            request.page_token,
        )
        return pb.AuditEntries(
            entries=[
                pb.AuditEntry(
                    id=e.id,
                    at=to_timestamp(e.at),
                    actor=e.actor,
                    action=e.action,
                    object_type=e.object_type,
                    object_id=e.object_id,
                    fields=e.fields.split(),
                )
                for e in page.entries
            ],
            next_page_token=page.next_token,
        )

    async def CreateOrg(
        self, request: pb.CreateOrgRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateOrgResponse:
        created = await self.handlers.create_org(
            current_principal().actor, request.name, request.org_number, request.language
        )
        return pb.CreateOrgResponse(
            org_id=created.org_id, api_key=created.api_key, scopes=list(created.scopes)
        )

    async def RegisterMember(
        self, request: pb.RegisterMemberRequest, context: grpc.aio.ServicerContext
    ) -> pb.Member:
        principal = current_principal()
        guardian = request.guardian if request.HasField("guardian") else None
        view = await self.signups.register(
            principal.actor,
            principal.org_id,
            SignupRequest(
                name=request.name,
                email=request.email,
                phone=request.phone,
                language=request.language,
                form_key=request.form_key,
                form_version=request.form_version,
                answers=dict(request.answers),
                consents=list(request.consents),
                accepted_policy_version=request.accepted_policy_version,
                accepted_terms_version=request.accepted_terms_version,
                membership_type_id=request.membership_type_id,
                guardian=Guardian(guardian.name, guardian.email, guardian.phone, guardian.consent)
                if guardian
                else None,
                source=request.source or "signup",
                validate_only=request.validate_only,
            ),
        )
        return member_message(view)

    async def GetMember(
        self, request: pb.GetMemberRequest, context: grpc.aio.ServicerContext
    ) -> pb.Member:
        if not request.member_id:
            raise InvalidArgument({"member_id": "required"})
        return member_message(
            await self.handlers.get_member(current_principal().org_id, request.member_id)
        )


class InternalDirectoryServicer(membership_pb2_grpc.InternalDirectoryServicer):
    def __init__(self, handlers: MembershipHandlers, privacy: PrivacySelfService) -> None:
        self.handlers = handlers
        self.consents = ConsentRegister(handlers)
        self.privacy = privacy

    async def IntrospectApiKey(
        self, request: pb.IntrospectApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ApiKeyPrincipal:
        principal = await self.handlers.introspect(request.api_key)
        if principal is None:
            raise Unauthenticated("invalid or revoked API key")
        return pb.ApiKeyPrincipal(
            org_id=principal.org_id, scopes=sorted(principal.scopes), key_id=principal.key_id
        )

    async def GetContact(
        self, request: pb.GetContactRequest, context: grpc.aio.ServicerContext
    ) -> pb.Contact:
        return contact_message(await self.handlers.get_member(request.org_id, request.member_id))

    async def GetContacts(
        self, request: pb.GetContactsRequest, context: grpc.aio.ServicerContext
    ) -> pb.Contacts:
        views = await self.handlers.get_contacts([(m.org_id, m.member_id) for m in request.members])
        return pb.Contacts(contacts=[contact_message(view) for view in views])

    async def GetPrivacyLink(
        self, request: pb.GetContactRequest, context: grpc.aio.ServicerContext
    ) -> pb.PrivacyLink:
        link = await self.privacy.link_for(request.org_id, request.member_id)
        return pb.PrivacyLink(url=link.url, expires_at=to_timestamp(link.expires_at))

    async def GetConsents(
        self, request: pb.GetContactRequest, context: grpc.aio.ServicerContext
    ) -> pb.Consents:
        return consents_message(await self.consents.state(request.org_id, request.member_id))

    async def ListOrgContacts(
        self, request: pb.ListOrgContactsRequest, context: grpc.aio.ServicerContext
    ) -> pb.OrgContacts:
        page, next_token = await org_contacts_page(
            self.handlers.database, request.page_size, request.page_token
        )
        return pb.OrgContacts(
            orgs=[
                pb.OrgContact(
                    org_id=o.org_id, name=o.name, contact_email=o.contact_email, language=o.language
                )
                for o in page
            ],
            next_page_token=next_token,
        )

    async def RestoreErasedAddresses(
        self, request: pb.RestoreErasedAddressesRequest, context: grpc.aio.ServicerContext
    ) -> pb.RestoreErasedAddressesReply:
        restored = await restore_tombstones(
            self.handlers.database, request.org_id, list(request.tombstones)
        )
        return pb.RestoreErasedAddressesReply(restored=restored)

    async def WithdrawConsent(
        self, request: pb.WithdrawConsentRequest, context: grpc.aio.ServicerContext
    ) -> pb.Consents:
        return consents_message(
            await self.consents.set(
                current_principal(),
                request.member_id,
                request.purpose,
                False,
                request.source,
                org_id=request.org_id,
            )
        )


def contact_message(view: MemberView) -> pb.Contact:
    return pb.Contact(
        member_id=view.member_id,
        org_id=view.org_id,
        org_name=view.org_name,
        name=view.name,
        email=view.email,
        phone=view.phone,
        language=view.language,
        restricted=view.restricted,
        objections=list(view.objections),
        consents=list(view.consents),
    )
