"""One private local stack (SQLite) for the whole fuzz package, with two orgs and a few real
members, so that fuzzed ids sometimes name real rows (of the calling org and of another)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from membership.v1 import membership_pb2, membership_pb2_grpc

from kontingent_cli.devstack import SERVICES, Stack, StackConfig
from tests.fuzz.world import RPC_TIMEOUT_S, World, settle

# Valid organisasjonsnumre (MOD11).
ORGS = (("Fuzz og Fomling IL", "974760673"), ("Naboklubben", "914778271"))
MEMBERS = (
    ("Kari Nordmann", "kari@fuzz.kontingent.no", "+4791234567"),
    ("Ola Nordmann", "ola@fuzz.kontingent.no", "+4792345678"),
    ("Åse Ærlig", "ase@fuzz.kontingent.no", "+4793456789"),
)
MAX_IDS = 60


def _create_org(stack: Stack, name: str, org_number: str) -> membership_pb2.CreateOrgResponse:
    with grpc.insecure_channel(stack.grpc_addr("membership")) as channel:
        return membership_pb2_grpc.MembershipServiceStub(channel).CreateOrg(
            membership_pb2.CreateOrgRequest(name=name, org_number=org_number, language="nb"),
            metadata=(("authorization", f"Bearer {stack.secrets['ADMIN_TOKEN']}"),),
            timeout=RPC_TIMEOUT_S,
        )


def _register(stack: Stack, api_key: str, name: str, email: str, phone: str) -> None:
    with grpc.insecure_channel(stack.grpc_addr("membership")) as channel:
        membership_pb2_grpc.MembershipServiceStub(channel).RegisterMember(
            membership_pb2.RegisterMemberRequest(name=name, email=email, phone=phone),
            metadata=(("authorization", f"Bearer {api_key}"),),
            timeout=RPC_TIMEOUT_S,
        )


def _row_ids(stack: Stack) -> list[str]:
    """Every id-like string value in every service's database (orgs, members, invoices,
    messages, keys, ...): read generically, so new tables contribute without a change here."""
    found: set[str] = set()
    for service in SERVICES:
        path = stack.data_dir / f"{service}.db"
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            for (table,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ).fetchall():
                columns = [c[1] for c in connection.execute(f'PRAGMA table_info("{table}")')]
                for column in columns:
                    if column == "id" or column.endswith("_id"):
                        rows = connection.execute(f'SELECT DISTINCT "{column}" FROM "{table}"')
                        found |= {v for (v,) in rows if isinstance(v, str) and 0 < len(v) < 80}
        finally:
            connection.close()
    return sorted(found)[:MAX_IDS]


def hosted_services(stack: Stack) -> dict[str, list[str]]:
    """gRPC service full name -> the stack's processes that serve it, as each process's
    reflection lists them."""
    hosts: dict[str, list[str]] = {}
    for process in SERVICES:
        with grpc.insecure_channel(stack.grpc_addr(process)) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            (reply,) = stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                timeout=RPC_TIMEOUT_S,
            )
        for service in reply.list_services_response.service:
            hosts.setdefault(service.name, []).append(process)
    return hosts


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz-stack")
    stack = Stack(StackConfig(data_dir=data_dir, random_ports=True, log_level="info"))
    try:
        stack.start()
        (org, other) = (_create_org(stack, name, number) for name, number in ORGS)
        for name, email, phone in MEMBERS:
            _register(stack, org.api_key, name, email, phone)
        _register(stack, other.api_key, "Nina Nabo", "nina@nabo.kontingent.no", "+4794567890")
        settle(stack, quiet_s=1.0, timeout_s=30.0)  # invoices, welcome emails, keys
        world = World(
            stack=stack,
            org_id=org.org_id,
            api_key=org.api_key,
            ids=_row_ids(stack),
            member_emails=[email for _, email, _ in MEMBERS],
            member_phones=[phone for _, _, phone in MEMBERS],
            hosts=hosted_services(stack),
        )
        yield world
        world.close()
    finally:
        stack.stop()
