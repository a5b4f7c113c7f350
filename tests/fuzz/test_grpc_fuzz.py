"""Every gRPC method of every service, called with generated bad input under each kind of
credential: no call may fail with INTERNAL, UNKNOWN or DATA_LOSS, the process must still be
serving afterwards, and a refused call must leave every database as it was."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.messages import Rpc, all_rpcs, proto_services, requests
from tests.fuzz.world import (
    GRPC_BAD_BEARER_EXAMPLES,
    GRPC_EXAMPLES,
    RPC_TIMEOUT_S,
    World,
    fuzz_settings,
)

pytestmark = pytest.mark.e2e

RPCS = all_rpcs()
# What a bug looks like from outside: the server did not know what to make of the request.
NEVER = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS})
# Each example draws one: the org's key with every scope, the services' internal token, the
# platform admin token. A credential a method does not accept is refused like bad input.
CREDENTIALS = ("org", "internal", "admin")
Outcome = tuple[grpc.StatusCode, str]


def call(world: World, rpc: Rpc, process: str, request: Message, metadata: tuple) -> Outcome:
    unary = world.channel(process).unary_unary(
        rpc.path,
        request_serializer=type(request).SerializeToString,
        response_deserializer=rpc.response_class.FromString,
    )
    try:
        unary(request, metadata=metadata, timeout=RPC_TIMEOUT_S)
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def refused(outcome: Outcome) -> bool:
    return outcome[0] != grpc.StatusCode.OK


_strategies: dict[str, st.SearchStrategy[Message]] = {}


def request_strategy(rpc: Rpc, world: World) -> st.SearchStrategy[Message]:
    """Built once per method (building walks the descriptors)."""
    if rpc.path not in _strategies:
        _strategies[rpc.path] = requests(rpc, world.pools)
    return _strategies[rpc.path]


def test_every_proto_service_is_fuzzed(world: World) -> None:
    """The fuzzed list comes from the generated code; it must cover every service declared in
    protos/, and each must be served by some process (or its methods are never called)."""
    assert RPCS
    generated = {rpc.service.full_name for rpc in RPCS}
    declared = proto_services()
    assert declared, "no service found in protos/"
    assert declared <= generated, f"declared but not generated: {declared - generated}"
    assert declared <= world.hosts.keys(), f"served by no process: {declared - world.hosts.keys()}"


@pytest.mark.parametrize("rpc", RPCS, ids=lambda rpc: rpc.path.lstrip("/"))
@fuzz_settings(GRPC_EXAMPLES)
@given(data=st.data())
def test_fuzzed_requests_are_answered_cleanly(world: World, rpc: Rpc, data: st.DataObject) -> None:
    process = data.draw(st.sampled_from(world.hosts[rpc.service.full_name]), label="process")
    credential = data.draw(st.sampled_from(CREDENTIALS), label="credential")
    request = data.draw(request_strategy(rpc, world), label="request")
    metadata = (("authorization", f"Bearer {world.token(credential)}"),)

    code, details = world.watch.check(lambda: call(world, rpc, process, request, metadata), refused)

    assert code not in NEVER, f"{rpc.path} on {process} as {credential}: {code.name} {details}"
    assert world.serving(process), f"{process} stopped serving after {rpc.path}"


PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def bad_authorizations(world: World) -> st.SearchStrategy[tuple[tuple[str, str], ...]]:
    """No header, a header of another scheme, an empty or made-up bearer, and the org's real
    key with its secret altered (a real key id, a wrong secret)."""
    key = world.api_key
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    values = st.one_of(
        st.sampled_from(["", "Bearer", "Bearer ", "bearer  ", "Basic dXNlcjpwYXNz", key]),
        st.sampled_from([f"Bearer {forged}", f"Bearer {key}x", f"Bearer {key[:8]}"]),
        st.text(PRINTABLE, max_size=60).map(lambda t: f"Bearer {t}"),
    )
    return st.one_of(st.just(()), values.map(lambda v: (("authorization", v),)))


@pytest.mark.parametrize("rpc", RPCS, ids=lambda rpc: rpc.path.lstrip("/"))
@fuzz_settings(GRPC_BAD_BEARER_EXAMPLES)
@given(data=st.data())
def test_a_wrong_or_missing_bearer_is_unauthenticated(
    world: World, rpc: Rpc, data: st.DataObject
) -> None:
    process = data.draw(st.sampled_from(world.hosts[rpc.service.full_name]), label="process")
    metadata = data.draw(bad_authorizations(world), label="metadata")
    request = data.draw(request_strategy(rpc, world), label="request")

    code, details = world.watch.check(lambda: call(world, rpc, process, request, metadata), refused)

    assert code == grpc.StatusCode.UNAUTHENTICATED, f"{rpc.path}: {code.name} {details}"
    assert world.serving(process), f"{process} stopped serving after {rpc.path}"
