"""privacy.v1.Retention: loading and reading an org's retention profile, the shipped
profiles, and every org's active profile for the services' sweeps."""

from __future__ import annotations

import grpc
from privacy.v1 import retention_pb2 as pb
from privacy.v1 import retention_pb2_grpc

from services.common.errors import NotFound
from services.common.grpc.auth import Principal, acting_for
from services.common.retention import RetentionProfile
from services.common.timestamps import to_timestamp
from services.erasure.service_layer.retention_profiles import OrgProfile, RetentionProfiles


def profile_message(profile: RetentionProfile) -> pb.RetentionProfile:
    return pb.RetentionProfile(
        name=profile.name,
        seed=profile.seed,
        version=profile.version,
        rules=[
            pb.RetentionRule(
                category=rule.category,
                keep=str(rule.keep) if rule.keep is not None else "",
                after=rule.after or "",
                keep_last=rule.keep_last or 0,
                maximum=str(rule.maximum) if rule.maximum is not None else "",
                action=rule.action,
                basis=rule.basis,
                source=rule.source,
            )
            for rule in profile.rules
        ],
    )


def org_profile_message(view: OrgProfile) -> pb.OrgProfile:
    history = [
        pb.ProfileLoad(
            revision=row.revision,
            name=row.name,
            version=row.version,
            origin=row.origin,
            loaded_at=to_timestamp(row.loaded_at),
            loaded_by=row.loaded_by,
        )
        for row in view.history
    ]
    if view.profile is None:
        return pb.OrgProfile(org_id=view.org_id, loaded=False)
    return pb.OrgProfile(
        org_id=view.org_id,
        loaded=True,
        profile=profile_message(view.profile),
        active=history[0],
        history=history,
    )


def _org(org_id: str) -> Principal:
    """The caller for the org it names; an org key naming another org finds nothing there."""
    who = acting_for(org_id)
    if org_id and org_id != who.org_id:
        raise NotFound(f"no org {org_id}")
    return who


class RetentionServicer(retention_pb2_grpc.RetentionServicer):
    def __init__(self, profiles: RetentionProfiles) -> None:
        self.profiles = profiles

    async def LoadProfile(
        self, request: pb.LoadProfileRequest, context: grpc.aio.ServicerContext
    ) -> pb.OrgProfile:
        who = _org(request.org_id)
        return org_profile_message(
            await self.profiles.load(who, request.name, request.yaml, request.file_name)
        )

    async def GetProfile(
        self, request: pb.GetProfileRequest, context: grpc.aio.ServicerContext
    ) -> pb.OrgProfile:
        return org_profile_message(await self.profiles.get(_org(request.org_id).org_id))

    async def ListProfiles(
        self, request: pb.ListProfilesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ProfileList:
        return pb.ProfileList(profiles=[profile_message(p) for p in self.profiles.list_shipped()])

    async def ListActiveProfiles(
        self, request: pb.ListActiveProfilesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ActiveProfiles:
        return pb.ActiveProfiles(
            profiles=[
                pb.ActiveProfile(
                    org_id=a.org_id, revision=a.revision, profile=profile_message(a.profile)
                )
                for a in await self.profiles.active()
            ]
        )
