"""A profile an org loads acts at once: the load writes privacy.retention-profile-loaded.v1
(org, profile, version, revision; nothing personal) to the erasure service's outbox in its
transaction, and a service's sweep that hears it sweeps that org without waiting for its
interval. A file asking to `anonymise` what cannot be anonymised is refused, naming file,
rule and field, and neither stored nor announced."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from events.v1.envelope_pb2 import Envelope
from privacy.v1 import events_pb2
from sqlalchemy import select

from services.common.db.tables import outbox
from services.common.envelope import decode, unpack
from services.common.errors import InvalidArgument
from services.common.retention_sweep import RetentionSweeps
from services.common.topics import RETENTION_PROFILE_LOADED
from services.membership.adapters.privacy_requests import PrivacyRequestsClient
from services.membership.service_layer.retention import MembershipRetention
from tests.integration.retention_support import METRICS, Platform, platform, stores

__all__ = ["platform", "stores"]  # fixtures

KEEP_ONE_LOGIN = (
    "name: club\nseed: Our policy\nversion: 3\nrules:\n"
    "  - category: login-log\n    keep_last: 1\n    action: delete\n"
    "    basis: security\n    source: Vi lagrer siste innlogging.\n"
)


async def announced(platform: Platform) -> list[Envelope]:
    """The org's privacy.retention-profile-loaded.v1 events in the erasure service's outbox."""
    async with platform.erasure.sessions() as session:
        values = (
            await session.scalars(
                select(outbox.c.value).where(outbox.c.topic == RETENTION_PROFILE_LOADED.name)
            )
        ).all()
    return [e for e in map(decode, values) if e.org_id == platform.org]


async def test_a_loaded_profile_is_announced_and_its_org_swept_at_once(
    platform: Platform,
) -> None:
    await platform.member("kari", "2025-01-10")
    await platform.login("kari", "2026-05-01")
    await platform.login("kari", "2026-05-02")
    sweeps = RetentionSweeps(
        "membership",
        platform.own_profile,
        MembershipRetention(
            platform.membership, platform.keys, PrivacyRequestsClient(platform.erasure_client)
        ).sweep_org,
        METRICS["membership"],
        lambda: date(2026, 5, 3),
    )

    await platform.load(text=KEEP_ONE_LOGIN, file_name="club.yaml")
    await platform.load(text=KEEP_ONE_LOGIN, file_name="club.yaml")  # the same: no new load

    [envelope] = await announced(platform)
    event = unpack(envelope, events_pb2.RetentionProfileLoaded)
    assert (event.org_id, event.profile_name, event.version, event.revision) == (
        platform.org,
        "club",
        3,
        1,
    )
    async with platform.membership.sessions() as session:
        await sweeps.on_profile_loaded(session, envelope)
    swept = await asyncio.wait_for(sweeps.sweep_loaded(), 10)
    assert swept == {platform.org: {("login-log", "delete"): 1}}
    assert await platform.logins("kari") == [("2026-05-02", "203.0.113.5")]


async def test_anonymise_where_it_would_delete_is_refused_by_name(platform: Platform) -> None:
    text = (
        "name: club\nseed: Our policy\nversion: 1\nrules:\n"
        "  - category: ip-location\n    keep: 30 days\n    after: collection\n"
        "    action: anonymise\n    basis: security\n    source: ours\n"
        "  - category: consents\n    keep: 1 year\n    after: collection\n"
        "    action: anonymise\n    basis: consent\n    source: ours\n"
        "  - category: message-log\n    keep: 1 year\n    after: collection\n"
        "    action: anonymise\n    basis: contract\n    source: ours\n"
    )
    with pytest.raises(InvalidArgument) as refused:
        await platform.load(text=text, file_name="club.yaml")
    assert refused.value.field_errors == {
        "yaml": "club.yaml: "
        + "; ".join(
            f"rules[{i}] ({c}).action: 'anonymise' is not supported for {c} "
            "(only for login-log, ip-location); use 'delete'"
            for i, c in ((1, "consents"), (2, "message-log"))
        )
    }
    assert await platform.loads() == 0
    assert await announced(platform) == []
