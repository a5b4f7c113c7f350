"""A service stops in order: gRPC stops taking calls, then its background jobs end (a job's
last act still reaches the database), then the stop hooks run, last registered first, a
failing one not keeping the others from running, with the producer and the database still
open; only then do those close."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import event, text

from kontingent_cli.devstack import free_port
from services.common.db.migrations import upgrade_to_head
from services.common.grpc.auth import Authenticator, Principal
from services.common.runtime import Runtime
from services.common.settings import ServiceSettings
from services.common.topics import TopicSpec
from tests.integration.conftest import SERVICES_DIR, TopicReader

# The smallest schema with the outbox the relay reads.
MIGRATIONS = SERVICES_DIR / "erasure" / "migrations"


def runtime_for(database_url: str, broker: str, data_dir: Path) -> Runtime:
    class StopTestSettings(ServiceSettings):
        # A name of its own: the runtime registers its metrics under it, once per process.
        service_name = f"stoptest{uuid.uuid4().hex[:8]}"
        default_grpc_port = free_port()
        default_http_port = free_port()

    settings = StopTestSettings(
        data_dir=data_dir,
        database_url=database_url,
        kafka_bootstrap_servers=broker,
        internal_token="internal-token-for-tests",
        shutdown_grace_s=1.0,
    )
    return Runtime(settings, MIGRATIONS)


async def no_keys(_key: str) -> Principal | None:
    return None


async def accepts_connections(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        _, writer = await asyncio.open_connection(host, int(port))
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def test_jobs_end_then_hooks_run_in_reverse_while_the_database_is_open(
    database_url: str, broker: str, fresh_topic: TopicSpec, read_topic: TopicReader, tmp_path: Path
) -> None:
    runtime = runtime_for(database_url, broker, tmp_path)
    runtime.serve_grpc(lambda server: None, [], {}, Authenticator("internal", no_keys))
    await upgrade_to_head(runtime.database, MIGRATIONS)
    async with runtime.database.transaction() as session:
        await session.execute(text("CREATE TABLE stop_log (step VARCHAR(40))"))
    steps: list[str] = []
    event.listen(
        runtime.database.engine.sync_engine,
        "engine_disposed",
        lambda _engine: steps.append("database closed"),
    )

    job_running = asyncio.Event()

    async def last_words() -> None:
        """A periodic job that is mid-round when the service stops, and writes as it ends."""
        job_running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            grpc_open = await accepts_connections(runtime.settings.grpc_addr)
            async with runtime.database.transaction() as session:
                await session.execute(text("INSERT INTO stop_log (step) VALUES ('job')"))
            steps.append(f"job wrote, gRPC {'open' if grpc_open else 'closed'}")
            raise

    def hook(name: str) -> Callable[[], Awaitable[None]]:
        async def reads_and_publishes() -> None:
            async with runtime.database.transaction() as session:
                found = (await session.execute(text("SELECT step FROM stop_log"))).scalars()
                seen = ",".join(found)
            await runtime.publisher.send_and_wait(fresh_topic.name, name.encode())
            steps.append(f"{name} saw {seen}")

        return reads_and_publishes

    async def failing() -> None:
        steps.append("failing hook")
        raise RuntimeError("a hook that fails")

    runtime.every("last-words", 60.0, last_words)
    runtime.on_stop(hook("first"))
    runtime.on_stop(failing)
    runtime.on_stop(hook("last"))

    async with runtime.running():
        await asyncio.wait_for(job_running.wait(), 10.0)
        assert await accepts_connections(runtime.settings.grpc_addr)

    assert steps == [
        "job wrote, gRPC closed",
        "last saw job",  # last registered, first to run: the job's row is there
        "failing hook",
        "first saw job",  # runs although the hook before it failed
        "database closed",
    ]
    published = sorted(record.value for record in await read_topic(fresh_topic.name))
    assert published == [b"first", b"last"]  # the producer was still open for both
