"""What the fuzz tests share: the example budget, the stack with its real rows, and a digest of
every service's database to tell "nothing was written" from a write.

The budget is the one place to make the package faster or more thorough; the whole package
should stay under about a minute on a two-core machine.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, settings

from kontingent_cli.devstack import SERVICES, Stack
from tests.fuzz.messages import Pools

# Examples per gRPC method (one host, one credential drawn per example) and per webhook route.
# FUZZ_EXAMPLES_SCALE=10 multiplies them for a deeper (slower) run by hand.
SCALE = int(os.environ.get("FUZZ_EXAMPLES_SCALE", "1"))
GRPC_EXAMPLES = 5 * SCALE
GRPC_BAD_BEARER_EXAMPLES = 1 * SCALE
WEBHOOK_EXAMPLES = 15 * SCALE

RPC_TIMEOUT_S = 10.0
# How many times a refusal that changed tables is sent again before it is blamed for them.
CONFIRMATIONS = 3


def fuzz_settings(max_examples: int) -> settings:
    """Repeatable (derandomize: CI sees the same inputs each run), no per-example deadline (a
    call to a stack on a busy machine varies), and no health checks that would flag the
    deliberately large or slow-to-build inputs."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@dataclass
class World:
    """The stack, the credentials and the real rows fuzzed ids are drawn from."""

    stack: Stack
    org_id: str
    api_key: str  # the org's key with every scope
    ids: list[str] = field(default_factory=list)  # real ids of every kind (orgs, members, ...)
    member_emails: list[str] = field(default_factory=list)
    member_phones: list[str] = field(default_factory=list)
    # gRPC service full name -> the stack's processes serving it
    hosts: dict[str, list[str]] = field(default_factory=dict)
    _channels: dict[str, grpc.Channel] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.watch = WriteWatch(self.stack)

    @property
    def pools(self) -> Pools:
        return Pools(tuple(self.ids), tuple(self.member_emails), tuple(self.member_phones))

    def channel(self, service: str) -> grpc.Channel:
        if service not in self._channels:
            self._channels[service] = grpc.insecure_channel(self.stack.grpc_addr(service))
        return self._channels[service]

    def token(self, credential: str) -> str:
        """The bearer token of a credential: "org", "internal" or "admin"."""
        return {
            "org": self.api_key,
            "internal": self.stack.secrets["INTERNAL_TOKEN"],
            "admin": self.stack.secrets["ADMIN_TOKEN"],
        }[credential]

    def serving(self, service: str) -> bool:
        stub = health_pb2_grpc.HealthStub(self.channel(service))
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def close(self) -> None:
        self.watch.close()
        for channel in self._channels.values():
            channel.close()


Digest = dict[str, dict[str, str]]  # service -> table -> digest of its rows


def table_digests(path: Path) -> dict[str, str]:
    """A digest of each table's rows, read through a connection of our own (the services keep
    their SQLite files in WAL mode: a reader sees exactly what was committed)."""
    if not path.exists():
        return {}
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        digests = {}
        for table in tables:
            rows = connection.execute(f'SELECT * FROM "{table}"').fetchall()
            # Sorted: the same rows in another scan order are the same table.
            digests[table] = hashlib.sha256(repr(sorted(rows, key=repr)).encode()).hexdigest()
        return digests
    finally:
        connection.close()


def database_digest(stack: Stack) -> Digest:
    return {service: table_digests(stack.data_dir / f"{service}.db") for service in SERVICES}


def changed_tables(before: Digest, after: Digest) -> list[str]:
    """`service.table` of each table whose rows differ."""
    return sorted(
        f"{service}.{table}"
        for service in before.keys() | after.keys()
        for table in before.get(service, {}).keys() | after.get(service, {}).keys()
        if before.get(service, {}).get(table) != after.get(service, {}).get(table)
    )


def settle(stack: Stack, quiet_s: float = 0.3, timeout_s: float = 15.0) -> Digest:
    """Waits until no database has changed for `quiet_s` (what an accepted call set off, such
    as events other services consume, has landed); the digest of that quiet state."""
    deadline = time.monotonic() + timeout_s
    last = database_digest(stack)
    while True:
        time.sleep(quiet_s)
        now = database_digest(stack)
        if now == last or time.monotonic() > deadline:
            return now
        last = now


class WriteWatch:
    """Checks that a refused request wrote nothing. An accepted one may write, and what it
    sets off lands later in other services; so after one that wrote, the next check first
    waits for the stack to settle.

    Fast path: SQLite's `PRAGMA data_version`, read on a connection of our own per database,
    changes whenever any other connection commits; when no database's changed across a call,
    nothing was written and no digest is needed. A commit (which may be a background job's,
    or change nothing) is judged by the rows' digests."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.dirty = True
        self._connections: dict[str, sqlite3.Connection] = {}

    def _versions(self) -> dict[str, int]:
        versions = {}
        for service in SERVICES:
            if service not in self._connections:
                path = self.stack.data_dir / f"{service}.db"
                self._connections[service] = sqlite3.connect(
                    f"file:{path}?mode=ro", uri=True, timeout=10
                )
            (versions[service],) = (
                self._connections[service].execute("PRAGMA data_version").fetchone()
            )
        return versions

    def check(self, send: Callable[[], Any], refused: Callable[[Any], bool]) -> Any:
        """`send()` once; if `refused(outcome)`, asserts no table of any service changed.
        A change is confirmed by settling and sending the same request again, up to
        CONFIRMATIONS times, and blamed only if every sending changed the same tables: a late
        effect of an earlier accepted request, or a background job's write, is not blamed on
        this one (a refusal that only rewrites what its first sending wrote, to the same
        values, goes unnoticed)."""
        if self.dirty:
            settle(self.stack)
            self.dirty = False
        versions = self._versions()
        outcome = send()
        if self._versions() == versions:
            return outcome
        if not refused(outcome):
            self.dirty = True
            return outcome
        blamed: set[str] | None = None
        for _ in range(CONFIRMATIONS):
            before = settle(self.stack)
            outcome = send()
            after = database_digest(self.stack)
            changed = set(changed_tables(before, after))
            if not refused(outcome) or not changed:
                self.dirty = bool(changed)
                return outcome
            blamed = changed if blamed is None else blamed & changed
            if not blamed:
                self.dirty = True
                return outcome
        raise AssertionError(f"a refused request wrote to {sorted(blamed or ())}: {outcome!r}")

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
