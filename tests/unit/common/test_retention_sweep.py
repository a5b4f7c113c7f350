"""The sweep mechanism every service shares: a profile survives the trip over gRPC intact, and
one org's failing sweep neither stops the others nor counts as a successful run; a newly
loaded profile sweeps its org alone; `anonymise` is counted only where it is not deletion."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from privacy.v1 import events_pb2
from prometheus_client import REGISTRY

from services.common.envelope import new_envelope
from services.common.retention import RetentionProfile, action_done
from services.common.retention_sweep import (
    ActiveProfile,
    RetentionSweeps,
    SweepMetrics,
    Swept,
    profile_from_message,
)
from services.erasure.adapters.retention_files import builtin_profiles
from services.erasure.entrypoints.grpc_retention import profile_message

PROFILES = builtin_profiles()
METRICS = SweepMetrics("unit")


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_a_shipped_profile_is_the_same_after_the_grpc_answer(name: str) -> None:
    assert profile_from_message(profile_message(PROFILES[name])) == PROFILES[name]


class Profiles:
    async def active(self) -> list[ActiveProfile]:
        return [
            ActiveProfile("org-a", 1, PROFILES["smartorg"]),
            ActiveProfile("org-b", 1, PROFILES["smartorg"]),
        ]


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def test_one_orgs_failure_leaves_the_others_swept_and_the_run_unsuccessful() -> None:
    async def sweep_org(org_id: str, profile: RetentionProfile, today: date) -> Swept:
        if org_id == "org-a":
            raise RuntimeError("database gone")
        return {("login-log", "delete"): 2}

    before = sample(
        "unit_retention_swept_records_total", {"category": "login-log", "action": "delete"}
    )
    results = await RetentionSweeps(
        "unit", Profiles(), sweep_org, METRICS, lambda: date(2026, 6, 1)
    ).run()

    assert results == {"org-b": {("login-log", "delete"): 2}}
    assert (
        sample("unit_retention_swept_records_total", {"category": "login-log", "action": "delete"})
        == before + 2
    )
    assert sample("unit_retention_sweep_failures_total") >= 1
    assert sample("unit_retention_sweep_last_success_timestamp_seconds") == 0


async def test_a_loaded_profile_sweeps_its_org_alone_and_is_not_a_complete_run() -> None:
    swept: list[str] = []

    async def sweep_org(org_id: str, profile: RetentionProfile, today: date) -> Swept:
        swept.append(org_id)
        return {}

    sweeps = RetentionSweeps("unit", Profiles(), sweep_org, METRICS, lambda: date(2026, 6, 1))
    last_success = sample("unit_retention_sweep_last_success_timestamp_seconds")
    loaded = new_envelope(
        "privacy.retention-profile-loaded",
        events_pb2.RetentionProfileLoaded(org_id="org-b", profile_name="smartorg", version=1),
        org_id="org-b",
    )
    await sweeps.on_profile_loaded(None, loaded)  # type: ignore[arg-type]  # no database

    assert await asyncio.wait_for(sweeps.sweep_loaded(), 1) == {"org-b": {}}
    assert swept == ["org-b"]
    assert sample("unit_retention_sweep_last_success_timestamp_seconds") == last_success


def test_anonymise_is_counted_only_where_it_is_not_deletion() -> None:
    rules = {r.category: r for p in PROFILES.values() for r in p.rules}
    for category, anonymised in (("ip-location", "anonymise"), ("consents", "delete")):
        rule = rules[category].model_copy(update={"action": "anonymise"})
        assert action_done(rule) == anonymised
    assert action_done(None) == "delete"
