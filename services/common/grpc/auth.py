"""Who is calling: org API keys, the internal service token, the platform admin token.

The caller's principal is put in a context variable for the duration of the RPC; handlers
scope every query by `current_principal().org_id`.
"""

from __future__ import annotations

import contextvars
import hmac
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

from services.common.errors import InvalidArgument, PermissionDenied, Unauthenticated

SCOPE_INTERNAL = "internal"
SCOPE_ADMIN = "platform-admin"  # the platform's operators, not an org's
# What an org's API key may be given:
SCOPE_MEMBERS_READ = "members:read"
SCOPE_MEMBERS_WRITE = "members:write"
SCOPE_PRIVACY = "privacy"
SCOPE_ORG_ADMIN = "admin"
ORG_SCOPES = (SCOPE_MEMBERS_READ, SCOPE_MEMBERS_WRITE, SCOPE_PRIVACY, SCOPE_ORG_ADMIN)
DATA_SUBJECT_SCOPES = frozenset({SCOPE_PRIVACY, SCOPE_INTERNAL})


def data_subject_policy() -> dict[str, frozenset[str]]:
    """Who may call privacy.v1.DataSubjectStore, the same on every service. Erase is the
    erasure service's alone: an erasure goes through a tracked request (ledger, certificate,
    sub-processors, the key last), never one store at a time."""
    return {
        "/privacy.v1.DataSubjectStore/Export": DATA_SUBJECT_SCOPES,
        "/privacy.v1.DataSubjectStore/Erase": frozenset({SCOPE_INTERNAL}),
    }


@dataclass(frozen=True)
class Principal:
    kind: str  # "org", "service" or "admin"
    org_id: str = ""
    scopes: frozenset[str] = field(default_factory=frozenset)
    key_id: str = ""  # for org keys

    @property
    def actor(self) -> str:
        """Who did it, as the audit log names them."""
        return (
            f"api-key:{self.key_id}"
            if self.kind == "org"
            else {"admin": "platform-admin"}.get(self.kind, self.kind)
        )

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise PermissionDenied(f"this credential lacks the '{scope}' scope")


SERVICE_PRINCIPAL = Principal(kind="service", scopes=frozenset({SCOPE_INTERNAL}))
ADMIN_PRINCIPAL = Principal(kind="admin", scopes=frozenset({SCOPE_ADMIN}))

_current: ContextVar[Principal | None] = ContextVar("principal", default=None)


def current_principal() -> Principal:
    principal = _current.get()
    if principal is None:
        raise Unauthenticated("no credential")
    return principal


def acting_for(org_id: str) -> Principal:
    """The caller, scoped to an org: an org key's own (whatever the request names), or for
    an internal caller the org the request names, which it must."""
    principal = current_principal()
    if principal.kind == "org":
        return principal
    if not org_id:
        raise InvalidArgument({"org_id": "required for internal callers"})
    return replace(principal, org_id=org_id)


def current_tenant() -> str:
    """The org the current work is for: the calling org's, or "*" for service, admin and
    background work (consumers, relay), whose queries scope themselves."""
    principal = _current.get()
    return principal.org_id if principal is not None and principal.kind == "org" else "*"


def set_principal(principal: Principal) -> None:
    _current.set(principal)


def org_context(org_id: str) -> contextvars.Context:
    """A fresh context whose work is for one org (the tenant row-level security sees)."""
    context = contextvars.Context()
    context.run(_current.set, Principal(kind="org", org_id=org_id))
    return context


ApiKeyResolver = Callable[[str], Awaitable[Principal | None]]


class Authenticator:
    """Turns a bearer token into a principal. Org keys are resolved by the given resolver
    (membership looks in its own table; other services ask membership) and cached briefly."""

    def __init__(
        self,
        internal_token: str,
        resolve_api_key: ApiKeyResolver,
        admin_token: str = "",
        cache_ttl_s: float = 30.0,
    ) -> None:
        self._internal = internal_token.encode()
        self._admin = admin_token.encode()
        self._resolve = resolve_api_key
        self._ttl = cache_ttl_s
        self._cache: dict[str, tuple[float, Principal]] = {}

    async def authenticate(self, metadata: dict[str, str]) -> Principal:
        header = metadata.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("missing 'authorization: Bearer <api key>' metadata")
        raw = token.encode()
        if hmac.compare_digest(raw, self._internal):
            return SERVICE_PRINCIPAL
        if self._admin and hmac.compare_digest(raw, self._admin):
            return ADMIN_PRINCIPAL
        cached = self._cache.get(token)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        principal = await self._resolve(token)
        if principal is None:
            raise Unauthenticated("invalid or revoked API key")
        self._cache[token] = (time.monotonic() + self._ttl, principal)
        return principal

    def forget_key(self, key_id: str) -> None:
        """Drop a revoked key at once instead of when its cache entry expires."""
        for token, (_, principal) in list(self._cache.items()):
            if principal.key_id == key_id:
                del self._cache[token]
