"""One process per service: a faust worker whose loop also runs the grpc.aio server, the
outbox relay and the readiness probe. A service's bootstrap fills a Runtime; `run()` starts it.

Start-up order: migrations and topics first (so consumers never subscribe to a topic that is
not there), then the producer, gRPC, relay and readiness, while faust joins its groups.

Stop order (the worker stops faust's app, its agents and web server, first): gRPC stops
taking calls (in-flight ones get the grace period), the background jobs (relay, readiness,
periodic jobs) are cancelled and awaited, the stop hooks run (`on_stop`: last registered
first), then the producer stops and the database closes. So a job's last round and every hook
still find the database and the producer open.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import faust
import grpc
import mode

from services.common import logging as kit_logging
from services.common.backoff import pause_after
from services.common.consumer import EventConsumer, Handler, Prefetch
from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.grpc.auth import Authenticator, current_tenant
from services.common.grpc.interceptor import AccessPolicy, ServiceInterceptor
from services.common.grpc.server import GrpcServer
from services.common.http import add_operational_pages
from services.common.kafka import KafkaConnection, Publisher
from services.common.metrics import ServiceMetrics
from services.common.outbox import OutboxRelay
from services.common.settings import ServiceSettings
from services.common.topics import CATALOG, TopicSpec, provision

log = kit_logging.get_logger(__name__)

READINESS_INTERVAL_S = 2.0


class Runtime:
    def __init__(self, settings: ServiceSettings, migrations: Path) -> None:
        self.settings = settings
        self.service = settings.service_name
        self.migrations = migrations
        self.metrics = ServiceMetrics(self.service)
        self.database = Database(settings.database_url, tenant=current_tenant)
        self.kafka = KafkaConnection.from_settings(settings)
        self.publisher = Publisher(self.kafka, f"kontingent-{self.service}")
        self.relay = OutboxRelay(self.database, self.publisher, self.metrics)
        self.app = faust.App(
            f"kontingent-{self.service}",
            broker=self.kafka.faust_broker,
            broker_credentials=self.kafka.faust_credentials(),
            autodiscover=False,
            topic_allow_declare=False,
            topic_disable_leader=True,
            broker_session_timeout=settings.consumer_session_timeout_s,
            broker_heartbeat_interval=1.0,
            broker_commit_interval=1.0,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            store="memory://",
            datadir=str(settings.data_dir / f"faust-{self.service}"),
            web_enabled=True,
            web_bind=settings.http_host,
            web_host=settings.http_host,
            web_port=settings.http_port,
        )
        self.ready = False
        self.consumers: list[EventConsumer] = []
        self.periodic: list[tuple[str, float, Callable[[], Awaitable[object]]]] = []
        self.commit_hooks: list[Callable[[], None]] = []
        self.stop_hooks: list[Callable[[], Awaitable[object]]] = []
        self._grpc_parts: (
            tuple[Callable[[grpc.aio.Server], None], Sequence[str], AccessPolicy, Authenticator]
            | None
        ) = None
        add_operational_pages(self.app, self.metrics, lambda: self.ready)

    def serve_grpc(
        self,
        add_servicers: Callable[[grpc.aio.Server], None],
        service_names: Sequence[str],
        policy: AccessPolicy,
        authenticator: Authenticator,
    ) -> None:
        self._grpc_parts = (add_servicers, service_names, policy, authenticator)

    def every(self, name: str, interval_s: float, job: Callable[[], Awaitable[object]]) -> None:
        """Run `job` once the service has started and then every `interval_s` seconds (a
        sweep). A failure is logged; failures in a row space the runs out (pause_after)."""
        self.periodic.append((name, interval_s, job))

    def on_commit(self, hook: Callable[[], None]) -> None:
        """Call `hook` after every consumer batch commits (e.g. to wake a dispatcher that
        sends what the batch queued), beside waking the outbox relay."""
        self.commit_hooks.append(hook)

    def on_stop(self, hook: Callable[[], Awaitable[object]]) -> None:
        """Await `hook()` once when the service stops (e.g. to close a provider's client):
        after the background jobs have ended, before the producer stops and the database
        closes. Hooks run last registered first; one that fails is logged and the rest run."""
        self.stop_hooks.append(hook)

    def _committed(self) -> None:
        self.relay.wake()
        for hook in self.commit_hooks:
            hook()

    def consume(
        self, name: str, topic: TopicSpec, handler: Handler, prefetch: Prefetch | None = None
    ) -> EventConsumer:
        consumer = EventConsumer(
            name,
            topic,
            handler,
            database=self.database,
            producer=self.publisher,
            metrics=self.metrics,
            max_attempts=self.settings.consumer_max_attempts,
            after_commit=self._committed,
            prefetch=prefetch,
        )
        consumer.attach(self.app)
        self.consumers.append(consumer)
        return consumer

    async def prepare(self) -> None:
        """Migrations and topics, before anything consumes or serves."""
        await upgrade_to_head(self.database, self.migrations)
        await asyncio.get_running_loop().run_in_executor(None, provision, self.kafka, CATALOG)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The runtime's own part (producer, gRPC, relay, periodic jobs) started in the
        running loop for the block, then stopped as the worker stops it, in the same order.
        Without faust's app (agents, web server) and without `prepare()`: for tests."""
        service = _RuntimeService(self)
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    def run(self) -> None:
        if self.settings.cpu_nice:
            os.nice(self.settings.cpu_nice)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(self.prepare())
        if not self.consumers:
            # faust's consumer refuses to start with nothing to subscribe to.
            self.app.boot_strategy = faust.app.base.BootStrategy(
                self.app, enable_kafka_consumer=False
            )
        worker = faust.Worker(
            self.app,
            _RuntimeService(self, loop=loop),
            loop=loop,
            quiet=True,
            loglevel=self.settings.log_level,
            redirect_stdouts=False,
            logging_config=kit_logging.logging_config(self.settings.log_level),
        )
        # At WARNING and above faust keeps a terminal spinner and, to feed it, sets the root
        # logger to DEBUG: every library's debug record (each SQL statement and row, aiosqlite,
        # aiokafka) would be built and dispatched for nothing. No spinner, no DEBUG.
        worker.spinner = None
        worker.execute_from_commandline()


class _RuntimeService(mode.Service):
    def __init__(self, runtime: Runtime, **kwargs: object) -> None:
        self.runtime = runtime
        self.grpc: GrpcServer | None = None
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        rt = self.runtime
        await rt.publisher.start()
        if rt._grpc_parts is not None:
            add_servicers, names, policy, authenticator = rt._grpc_parts
            interceptor = ServiceInterceptor(authenticator, policy, rt.metrics)
            self.grpc = GrpcServer(rt.settings.grpc_addr, add_servicers, names, interceptor)
            await self.grpc.start()
        self.add_future(rt.relay.run())
        self.add_future(self._watch_readiness())
        for name, interval_s, job in rt.periodic:
            self.add_future(self._every(name, interval_s, job))
        log.info(
            "service_started",
            grpc=rt.settings.grpc_addr,
            http=f"{rt.settings.http_host}:{rt.settings.http_port}",
        )

    async def _every(
        self, name: str, interval_s: float, job: Callable[[], Awaitable[object]]
    ) -> None:
        failures = 0
        while not self.should_stop:
            try:
                await job()
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning(
                    "periodic_job_failed", job=name, error=type(exc).__name__, in_a_row=failures
                )
            await self.sleep(pause_after(interval_s, failures))

    async def _watch_readiness(self) -> None:
        rt = self.runtime
        while not self.should_stop:
            try:
                await asyncio.wait_for(rt.database.ping(), READINESS_INTERVAL_S)
                db_ok = True
            except Exception:
                db_ok = False
            broker_ok = await rt.publisher.broker_reachable()
            ready = db_ok and broker_ok
            if ready != rt.ready:
                log.info("readiness_changed", ready=ready, database=db_ok, broker=broker_ok)
            rt.ready = ready
            rt.metrics.ready.set(1 if ready else 0)
            if self.grpc is not None:
                await self.grpc.set_serving(ready)
            if rt.consumers and broker_ok:
                await self._measure_lag()
            if db_ok:
                with contextlib.suppress(Exception):
                    await rt.relay.measure_backlog()
            await asyncio.sleep(READINESS_INTERVAL_S)

    async def _measure_lag(self) -> None:
        consumer = self.runtime.app.consumer
        lag: dict[str, int] = defaultdict(int)
        try:
            for tp in consumer.assignment():
                position = await consumer.position(tp)
                highwater = consumer.highwater(tp)
                if position is not None and highwater is not None:
                    lag[tp.topic] += max(highwater - position, 0)
        except Exception:  # not assigned yet, or rebalancing: measure next time
            return
        for topic, messages in lag.items():
            self.runtime.metrics.consumer_lag.labels(topic).set(messages)

    async def on_stop(self) -> None:
        """mode's first step of stop(), before it cancels and awaits the futures added with
        add_future (relay, readiness, periodic jobs): no new gRPC calls."""
        if self.grpc is not None:
            await self.grpc.stop(self.runtime.settings.shutdown_grace_s)

    async def on_shutdown(self) -> None:
        """mode's last step of stop(), once those futures have ended."""
        rt = self.runtime
        while rt.stop_hooks:
            hook = rt.stop_hooks.pop()
            try:
                await hook()
            except Exception as exc:
                name = getattr(hook, "__qualname__", type(hook).__name__)
                log.warning("stop_hook_failed", hook=name, error=type(exc).__name__)
        try:
            await rt.publisher.stop()
        finally:
            await rt.database.close()
        log.info("service_stopped")
