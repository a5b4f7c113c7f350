"""Loading an org's retention profile: a shipped one by name, or a YAML file the org brings,
validated whole before anything is stored. Each load is kept; the newest is the one every
service's sweep enforces. An org that never loaded one has nothing swept: no profile means no
policy to enforce, and a default chosen for it would delete what the org never agreed to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from privacy.v1 import events_pb2
from sqlalchemy.engine import Row

from services.common.db.engine import Database
from services.common.envelope import new_envelope
from services.common.errors import InvalidArgument
from services.common.grpc.auth import Principal
from services.common.logging import get_logger
from services.common.outbox import add_event
from services.common.retention import RetentionProfile
from services.common.retention_sweep import ActiveProfile
from services.common.topics import RETENTION_PROFILE_LOADED
from services.erasure.adapters.retention_files import (
    ProfileError,
    check_supported,
    parse_profile,
)
from services.erasure.adapters.retention_repository import ProfileLoads

log = get_logger(__name__)

MAX_YAML_BYTES = 64 * 1024
MAX_FILE_NAME = 100
SHIPPED = "shipped"


@dataclass(frozen=True)
class OrgProfile:
    org_id: str
    profile: RetentionProfile | None  # the active one
    history: list[Row]  # newest first, the active one included


class RetentionProfiles:
    def __init__(
        self,
        database: Database,
        shipped: dict[str, tuple[RetentionProfile, str]],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.shipped = shipped
        self.now = now

    def list_shipped(self) -> list[RetentionProfile]:
        return [profile for profile, _ in self.shipped.values()]

    async def load(self, who: Principal, name: str, text: str, file_name: str) -> OrgProfile:
        profile, text, origin = self._read(name, text, file_name)
        async with self.database.transaction() as session:
            loads = ProfileLoads(session)
            history = await loads.history(who.org_id)
            if history and history[0].profile_yaml == text:
                return OrgProfile(who.org_id, profile, history)
            revision = history[0].revision + 1 if history else 1
            await loads.add(
                {
                    "org_id": who.org_id,
                    "revision": revision,
                    "name": profile.name,
                    "version": profile.version,
                    "origin": origin,
                    "profile_yaml": text,
                    "loaded_at": self.now(),
                    "loaded_by": who.actor,
                }
            )
            # In the load's transaction: every sweep hears of it exactly when it is stored.
            await add_event(
                session,
                RETENTION_PROFILE_LOADED,
                new_envelope(
                    "privacy.retention-profile-loaded",
                    events_pb2.RetentionProfileLoaded(
                        org_id=who.org_id,
                        profile_name=profile.name,
                        version=profile.version,
                        revision=revision,
                    ),
                    org_id=who.org_id,
                ),
            )
            history = await loads.history(who.org_id)
        log.info(
            "retention_profile_loaded",
            org_id=who.org_id,
            profile=profile.name,
            version=profile.version,
            revision=revision,
        )
        return OrgProfile(who.org_id, profile, history)

    async def get(self, org_id: str) -> OrgProfile:
        async with self.database.sessions() as session:
            history = await ProfileLoads(session).history(org_id)
        if not history:
            return OrgProfile(org_id, None, [])
        return OrgProfile(org_id, _stored(history[0]), history)

    async def active(self) -> list[ActiveProfile]:
        async with self.database.sessions() as session:
            rows = await ProfileLoads(session).active()
        return [ActiveProfile(row.org_id, row.revision, _stored(row)) for row in rows]

    def _read(self, name: str, text: str, file_name: str) -> tuple[RetentionProfile, str, str]:
        if name and text:
            raise InvalidArgument({"source": "a shipped profile's name or a file, not both"})
        if name:
            if name not in self.shipped:
                raise InvalidArgument(
                    {"name": f"no shipped profile {name!r}; one of {', '.join(self.shipped)}"}
                )
            profile, shipped_text = self.shipped[name]
            return profile, shipped_text, SHIPPED
        if not text.strip():
            raise InvalidArgument({"source": "a shipped profile's name or a profile file"})
        if len(file_name) > MAX_FILE_NAME:
            raise InvalidArgument({"file_name": f"at most {MAX_FILE_NAME} characters"})
        source = file_name or "profile.yaml"
        if len(text.encode()) > MAX_YAML_BYTES:
            raise InvalidArgument({"yaml": f"{source}: larger than {MAX_YAML_BYTES} bytes"})
        try:
            profile = check_supported(parse_profile(text, source), source)
        except ProfileError as error:
            raise InvalidArgument({"yaml": str(error)}) from None
        return profile, text, f"file:{source}"


def _stored(row: Row) -> RetentionProfile:
    """A stored load was validated when it was loaded."""
    return parse_profile(row.profile_yaml, f"revision {row.revision} of {row.name}")
