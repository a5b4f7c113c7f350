"""Running a retention sweep in a service: every org's active profile from the erasure
service (validated once per load), the service's own sweep of one org, and the same metrics
and log line everywhere. An org without a loaded profile is not swept at all. Besides the
sweep every interval, an org that loads a profile (privacy.retention-profile-loaded.v1) is
swept at once, so a new profile acts without waiting for the interval."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from events.v1.envelope_pb2 import Envelope
from privacy.v1 import events_pb2, retention_pb2_grpc
from privacy.v1 import retention_pb2 as pb
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import Clock, oslo_today
from services.common.envelope import unpack
from services.common.grpc.client import ServiceClient
from services.common.logging import get_logger
from services.common.retention import RetentionProfile
from services.common.runtime import Runtime
from services.common.topics import RETENTION_PROFILE_LOADED

log = get_logger(__name__)

# (category, action) -> how many records the sweep removed or anonymised
Swept = dict[tuple[str, str], int]


@dataclass(frozen=True)
class ActiveProfile:
    org_id: str
    revision: int  # the org's load; a new load is a new revision
    profile: RetentionProfile


class ProfileSource(Protocol):
    async def active(self) -> list[ActiveProfile]: ...


def profile_from_message(message: pb.RetentionProfile) -> RetentionProfile:
    rules = []
    for rule in message.rules:
        fields = {
            "category": rule.category,
            "keep": rule.keep,
            "after": rule.after,
            "keep_last": rule.keep_last,
            "maximum": rule.maximum,
            "action": rule.action,
            "basis": rule.basis,
            "source": rule.source,
        }
        rules.append({k: v for k, v in fields.items() if v not in ("", 0)})
    return RetentionProfile.model_validate(
        {"name": message.name, "seed": message.seed, "version": message.version, "rules": rules}
    )


class ErasureProfiles:
    """Asked on every sweep (the broker keeps nothing across a restart, so no topic is the
    source of truth); a profile is parsed again only when its org loads a new one."""

    def __init__(self, erasure: ServiceClient) -> None:
        self.erasure = erasure
        self._cache: dict[str, ActiveProfile] = {}

    async def active(self) -> list[ActiveProfile]:
        stub = retention_pb2_grpc.RetentionStub(self.erasure.channel)
        answer = await self.erasure.call(stub.ListActiveProfiles, pb.ListActiveProfilesRequest())
        fresh: dict[str, ActiveProfile] = {}
        for item in answer.profiles:
            cached = self._cache.get(item.org_id)
            fresh[item.org_id] = (
                cached
                if cached is not None and cached.revision == item.revision
                else ActiveProfile(item.org_id, item.revision, profile_from_message(item.profile))
            )
        self._cache = fresh
        return list(fresh.values())


class SweepMetrics:
    """`<service>_retention_*`: no org or member labels."""

    def __init__(self, service: str) -> None:
        self.swept = Counter(
            f"{service}_retention_swept_records_total",
            "Records the retention sweep deleted or anonymised under an org's profile",
            ["category", "action"],
        )
        self.duration = Histogram(
            f"{service}_retention_sweep_duration_seconds", "Duration of a retention sweep run"
        )
        self.failures = Counter(
            f"{service}_retention_sweep_failures_total",
            "Orgs whose retention sweep failed in a run (retried on the next run)",
        )
        self.last_success = Gauge(
            f"{service}_retention_sweep_last_success_timestamp_seconds",
            "When a retention sweep last finished with every org swept",
        )


OrgSweep = Callable[[str, RetentionProfile, date], Awaitable[Swept]]


class RetentionSweeps:
    def __init__(
        self,
        service: str,
        profiles: ProfileSource,
        sweep_org: OrgSweep,
        metrics: SweepMetrics,
        clock: Clock = oslo_today,
    ) -> None:
        self.service = service
        self.profiles = profiles
        self.sweep_org = sweep_org
        self.metrics = metrics
        self.clock = clock
        # One run at a time: the interval's and a newly loaded profile's never sweep an org
        # twice at once.
        self._running = asyncio.Lock()
        self._loaded: set[str] = set()
        self._load_heard = asyncio.Event()

    async def on_profile_loaded(self, session: AsyncSession, envelope: Envelope) -> None:
        """Consumer of privacy.retention-profile-loaded.v1: the org is swept by
        `sweep_loaded`, outside the consumer's transaction. Remembered in memory only: a
        restarted service sweeps every org at once anyway."""
        loaded = unpack(envelope, events_pb2.RetentionProfileLoaded)
        self._loaded.add(loaded.org_id or envelope.org_id)
        self._load_heard.set()

    async def sweep_loaded(self) -> dict[str, Swept]:
        """Waits for a load to be heard of, then sweeps the orgs loaded since the last turn
        under their active profile (asked now: the event only says that it changed)."""
        await self._load_heard.wait()
        self._load_heard.clear()
        orgs, self._loaded = self._loaded, set()
        active = [a for a in await self.profiles.active() if a.org_id in orgs]
        return await self.run(active, every_org=False)

    async def run(
        self, profiles: list[ActiveProfile] | None = None, *, every_org: bool = True
    ) -> dict[str, Swept]:
        """Sweeps every org with a profile (`profiles`, when the caller has just asked for
        them); one org's failure does not stop the others. `every_org` False: only some orgs
        (not a complete run for the last-success gauge)."""
        async with self._running:
            return await self._run(profiles, every_org)

    async def _run(self, profiles: list[ActiveProfile] | None, every_org: bool) -> dict[str, Swept]:
        started = time.perf_counter()
        today = self.clock()
        results: dict[str, Swept] = {}
        failed = 0
        for active in profiles if profiles is not None else await self.profiles.active():
            try:
                swept = await self.sweep_org(active.org_id, active.profile, today)
            except Exception as exc:
                failed += 1
                self.metrics.failures.inc()
                log.warning(
                    "retention_sweep_failed",
                    service=self.service,
                    org_id=active.org_id,
                    error=type(exc).__name__,
                )
                continue
            results[active.org_id] = swept
            for (category, action), count in swept.items():
                self.metrics.swept.labels(category, action).inc(count)
            if swept:
                log.info(
                    "retention_swept",
                    service=self.service,
                    org_id=active.org_id,
                    profile=active.profile.name,
                    version=active.profile.version,
                    **{f"{c}:{a}": n for (c, a), n in sorted(swept.items())},
                )
        self.metrics.duration.observe(time.perf_counter() - started)
        if not failed and every_org:
            self.metrics.last_success.set_to_current_time()
        return results


def add_retention_sweeps(
    runtime: Runtime,
    sweeps: RetentionSweeps,
    interval_s: float,
    run_all: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Every `interval_s` (`run_all`, when the service sweeps more than the profiled orgs),
    and each org at once when it loads a profile."""
    name = sweeps.service
    runtime.every(f"{name}.retention", interval_s, run_all or sweeps.run)
    runtime.every(f"{name}.retention-loaded", 0.0, sweeps.sweep_loaded)
    runtime.consume(
        f"{name}.retention-profile-loaded", RETENTION_PROFILE_LOADED, sweeps.on_profile_loaded
    )


def count(swept: Swept, category: str, action: str, records: int) -> None:
    if records:
        swept[(category, action)] = swept.get((category, action), 0) + records
