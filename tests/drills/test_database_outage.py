"""The database unavailable for 30 s mid-stream (PostgreSQL behind a gate that cuts every
connection and refuses new ones). Calls answer UNAVAILABLE saying the database is away, so
callers know to try again; no transaction is half-written; when it is back, work resumes and
the books come out straight."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from membership.v1 import membership_pb2, membership_pb2_grpc

from kontingent_cli.devstack import SERVICES
from tests.conftest import PG_AVAILABLE, create_pg_database, drop_pg_database
from tests.drills.conftest import LOAD_TIMEOUT_S, MEMBERS, TEST_TIMEOUT_S
from tests.drills.rig import LoopThread, Rig, running_rig
from tests.drills.tcp_gate import TcpGate

pytestmark = [pytest.mark.drill, pytest.mark.timeout(TEST_TIMEOUT_S)]

OUTAGE_S = 30.0
PG = ("127.0.0.1", 5432)


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Rig, TcpGate, LoopThread]]:
    if not PG_AVAILABLE:
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
    loop = LoopThread()
    gate = TcpGate(*PG)
    loop.run(gate.open())
    urls = {service: create_pg_database(service) for service in SERVICES}
    through_gate = {
        service: url.replace(f"{PG[0]}:{PG[1]}", f"127.0.0.1:{gate.port}")
        for service, url in urls.items()
    }
    try:
        with running_rig(tmp_path_factory.mktemp("drill-db"), through_gate) as rig:
            yield rig, gate, loop
    finally:
        for url in urls.values():
            drop_pg_database(url)
        loop.close()


def test_calls_answer_unavailable_while_the_database_is_away_then_work_resumes(
    gated: tuple[Rig, TcpGate, LoopThread],
) -> None:
    rig, gate, loop = gated
    api_key = rig.org("Database IL", "974760673")
    load = rig.start_load(api_key, MEMBERS)
    time.sleep(5)
    loop.run(gate.shut())
    try:
        time.sleep(2)  # the pools notice their connections are gone
        with (
            grpc.insecure_channel(rig.stack.grpc_addr("membership")) as channel,
            pytest.raises(grpc.RpcError) as refused,
        ):
            membership_pb2_grpc.MembershipServiceStub(channel).RegisterMember(
                membership_pb2.RegisterMemberRequest(
                    name="Under Utfall", email="utfall@example.no", phone="+4790000001"
                ),
                metadata=(("authorization", f"Bearer {api_key}"),),
                timeout=20,
            )
        time.sleep(OUTAGE_S - 2)
    finally:
        loop.run(gate.open())

    traffic = load.result(timeout=LOAD_TIMEOUT_S)
    problems = rig.problems(api_key, traffic)

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value.details()
    assert "database" in refused.value.details().lower(), refused.value.details()
    assert problems == [], problems[:20]
