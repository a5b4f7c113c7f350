"""gRPC entry points for the org's own settings: profile, policy versions, registration forms,
and the members' consents. Mixed into the MembershipService servicer."""

from __future__ import annotations

from dataclasses import asdict

import grpc
from membership.v1 import membership_pb2 as pb

from services.common.grpc.auth import current_principal
from services.common.timestamps import to_timestamp
from services.membership.domain.forms import BASE_FIELDS, ConsentPurpose, FormField
from services.membership.domain.orgs import OrgProfile
from services.membership.service_layer.consents import ConsentRegister, ConsentState
from services.membership.service_layer.forms import FormCatalog, PublishedForm
from services.membership.service_layer.orgs import OrgSettings
from services.membership.service_layer.policies import Policies, Policy


def org_message(org: OrgProfile) -> pb.Org:
    return pb.Org(
        org_id=org.org_id,
        name=org.name,
        org_number=org.org_number,
        language=org.language,
        contact_email=org.contact_email,
        contact_phone=org.contact_phone,
        contact_address=org.contact_address,
        policy_version=org.privacy.current,
        terms_version=org.terms.current,
    )


def policy_message(policy: Policy) -> pb.PolicyVersion:
    return pb.PolicyVersion(
        kind=policy.kind,
        version=policy.version,
        url=policy.url,
        summary=policy.summary,
        material=policy.material,
        published_at=to_timestamp(policy.published_at),
        members_to_reconsent=policy.members_to_reconsent,
    )


def form_message(form: PublishedForm) -> pb.Form:
    d = form.definition
    return pb.Form(
        form_id=form.form_id,
        key=d.key,
        version=form.version,
        title=d.title,
        fields=[pb.FormField(**asdict(f)) for f in (*BASE_FIELDS, *d.fields)],
        consent_purposes=[pb.ConsentPurpose(**asdict(p)) for p in d.purposes],
        published_at=to_timestamp(form.published_at),
    )


def consents_message(state: ConsentState) -> pb.Consents:
    return pb.Consents(
        granted=list(state.granted),
        history=[
            pb.ConsentChange(
                purpose=c.purpose,
                granted=c.granted,
                at=to_timestamp(c.at),
                source=c.source,
                policy_version=c.policy_version,
            )
            for c in state.history
        ],
    )


class OrgSettingsRpcs:
    orgs: OrgSettings
    policies: Policies
    forms: FormCatalog
    consents: ConsentRegister

    async def GetOrg(self, request: pb.GetOrgRequest, context: grpc.aio.ServicerContext) -> pb.Org:
        return org_message(await self.orgs.get(current_principal().org_id))

    async def UpdateOrg(
        self, request: pb.UpdateOrgRequest, context: grpc.aio.ServicerContext
    ) -> pb.Org:
        changes = {path: getattr(request, path, "") for path in request.update_mask.paths}
        return org_message(await self.orgs.update(current_principal(), changes))

    async def PublishPolicy(
        self, request: pb.PublishPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.PolicyVersion:
        return policy_message(
            await self.policies.publish(
                current_principal(), request.kind, request.url, request.summary, request.material
            )
        )

    async def ListPolicies(
        self, request: pb.ListPoliciesRequest, context: grpc.aio.ServicerContext
    ) -> pb.PolicyVersions:
        found = await self.policies.list(current_principal().org_id, request.kind)
        return pb.PolicyVersions(versions=[policy_message(p) for p in found])

    async def PublishForm(
        self, request: pb.PublishFormRequest, context: grpc.aio.ServicerContext
    ) -> pb.Form:
        fields = [
            FormField(
                key=f.key,
                label_nb=f.label_nb,
                label_en=f.label_en,
                type=f.type,
                required=f.required,
                category=f.category,
                purpose=f.purpose,
                legal_basis=f.legal_basis,
                retention=f.retention,
                choices=tuple(f.choices),
                justification=f.justification,
            )
            for f in request.fields
        ]
        purposes = [
            ConsentPurpose(p.key, p.label_nb, p.label_en, p.channel or "any")
            for p in request.consent_purposes
        ]
        return form_message(
            await self.forms.publish(
                current_principal(), request.key, request.title, fields, purposes
            )
        )

    async def GetForm(
        self, request: pb.GetFormRequest, context: grpc.aio.ServicerContext
    ) -> pb.Form:
        return form_message(
            await self.forms.get(current_principal().org_id, request.key, request.version)
        )

    async def ListForms(
        self, request: pb.ListFormsRequest, context: grpc.aio.ServicerContext
    ) -> pb.Forms:
        found = await self.forms.latest_of_each(current_principal().org_id)
        return pb.Forms(forms=[form_message(f) for f in found])

    async def SetConsent(
        self, request: pb.SetConsentRequest, context: grpc.aio.ServicerContext
    ) -> pb.Consents:
        return consents_message(
            await self.consents.set(
                current_principal(),
                request.member_id,
                request.purpose,
                request.granted,
                request.source,
            )
        )

    async def ListConsents(
        self, request: pb.ListConsentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.Consents:
        return consents_message(
            await self.consents.state(current_principal().org_id, request.member_id)
        )
