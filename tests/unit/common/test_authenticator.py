"""Bearer tokens to principals: the internal token, the admin token and org API keys."""

from __future__ import annotations

import pytest

from services.common.errors import PermissionDenied, Unauthenticated
from services.common.grpc.auth import (
    ADMIN_PRINCIPAL,
    SCOPE_ADMIN,
    SCOPE_INTERNAL,
    SERVICE_PRINCIPAL,
    Authenticator,
    Principal,
)

INTERNAL = "internal-token-123"
ADMIN = "admin-token-456"
ORG_KEY = "kt_0123456789abcdef_orgsecret"
ORG = Principal(kind="org", org_id="org-1", scopes=frozenset({"members:read"}))


class CountingResolver:
    """The API-key lookup at the edge (membership's table, or a call to membership)."""

    def __init__(self, known: dict[str, Principal]) -> None:
        self.known = known
        self.calls: list[str] = []

    async def __call__(self, token: str) -> Principal | None:
        self.calls.append(token)
        return self.known.get(token)


@pytest.fixture
def resolver() -> CountingResolver:
    return CountingResolver({ORG_KEY: ORG})


@pytest.fixture
def auth(resolver: CountingResolver) -> Authenticator:
    return Authenticator(INTERNAL, resolver, admin_token=ADMIN)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_internal_token_is_the_service_principal(
    auth: Authenticator, resolver: CountingResolver
) -> None:
    principal = await auth.authenticate(bearer(INTERNAL))
    assert principal == SERVICE_PRINCIPAL
    assert SCOPE_INTERNAL in principal.scopes
    assert resolver.calls == []


async def test_admin_token_is_the_admin_principal(auth: Authenticator) -> None:
    principal = await auth.authenticate(bearer(ADMIN))
    assert principal == ADMIN_PRINCIPAL
    assert SCOPE_ADMIN in principal.scopes


async def test_without_an_admin_token_configured_nobody_is_admin(
    resolver: CountingResolver,
) -> None:
    auth = Authenticator(INTERNAL, resolver)
    with pytest.raises(Unauthenticated):
        await auth.authenticate(bearer(ADMIN))


async def test_org_key_resolves_to_its_org(auth: Authenticator) -> None:
    principal = await auth.authenticate(bearer(ORG_KEY))
    assert principal.kind == "org"
    assert principal.org_id == "org-1"


async def test_bearer_scheme_is_case_insensitive(auth: Authenticator) -> None:
    assert await auth.authenticate({"authorization": f"bearer {INTERNAL}"}) == SERVICE_PRINCIPAL


async def test_unknown_bearer_is_unauthenticated(auth: Authenticator) -> None:
    with pytest.raises(Unauthenticated):
        await auth.authenticate(bearer("kt_nope_nope"))


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"authorization": ""},
        {"authorization": "Bearer"},
        {"authorization": INTERNAL},
        {"authorization": f"Basic {INTERNAL}"},
    ],
)
async def test_missing_or_malformed_header_is_unauthenticated(
    auth: Authenticator, metadata: dict[str, str]
) -> None:
    with pytest.raises(Unauthenticated):
        await auth.authenticate(metadata)


async def test_resolved_key_is_cached(auth: Authenticator, resolver: CountingResolver) -> None:
    first = await auth.authenticate(bearer(ORG_KEY))
    second = await auth.authenticate(bearer(ORG_KEY))
    assert first == second == ORG
    assert resolver.calls == [ORG_KEY]


async def test_a_key_is_looked_up_again_once_the_cache_expires(
    resolver: CountingResolver,
) -> None:
    auth = Authenticator(INTERNAL, resolver, cache_ttl_s=0.0)
    await auth.authenticate(bearer(ORG_KEY))
    await auth.authenticate(bearer(ORG_KEY))
    assert resolver.calls == [ORG_KEY, ORG_KEY]


def test_principal_without_scope_is_denied() -> None:
    with pytest.raises(PermissionDenied, match="members:write"):
        ORG.require("members:write")
    ORG.require("members:read")


async def test_a_forgotten_key_is_resolved_again() -> None:
    calls: list[str] = []

    async def resolve(token: str) -> Principal | None:
        calls.append(token)
        return Principal(kind="org", org_id="o", scopes=frozenset({"admin"}), key_id="k1")

    auth = Authenticator("internal", resolve)
    header = {"authorization": "Bearer kt_k1_secret"}
    await auth.authenticate(header)
    await auth.authenticate(header)
    auth.forget_key("k1")
    await auth.authenticate(header)
    assert len(calls) == 2
