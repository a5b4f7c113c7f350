"""The whole local stack as processes, once per database backend, on random ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kontingent_cli.devstack import SERVICES, Stack, StackConfig
from tests.conftest import BACKENDS


@pytest.fixture(scope="package", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    backend = request.param
    data_dir: Path = tmp_path_factory.mktemp(f"stack-{backend}")
    urls: dict[str, str] = {}
    if backend == "postgresql":
        from tests.conftest import PG_AVAILABLE, create_pg_database, drop_pg_database

        if not PG_AVAILABLE:
            pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
        urls = {service: create_pg_database(service) for service in SERVICES}
    stack = Stack(
        StackConfig(
            data_dir=data_dir,
            random_ports=True,
            database_urls=urls,
            log_level="info",
            # Each second, so that a profile an org loads is seen acting at once (only orgs
            # with a profile are swept: test_retention.py's).
            service_env={"membership": {"RETENTION_INTERVAL_S": "1"}},
        )
    )
    stack.backend = backend  # type: ignore[attr-defined]
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        if backend == "postgresql":
            for url in urls.values():
                drop_pg_database(url)
