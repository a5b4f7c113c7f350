"""One server interceptor for every RPC: authenticate, check the method's scope, time and
count the call, and turn our errors into status codes with safe messages."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import grpc

from services.common.errors import (
    DATABASE_AWAY_MESSAGE,
    AlreadyExists,
    PermissionDenied,
    ServiceError,
    database_away,
)
from services.common.grpc.auth import Authenticator, Principal, set_principal
from services.common.grpc.client import EXISTING_ID, TRANSIENT
from services.common.logging import get_logger
from services.common.metrics import ServiceMetrics

log = get_logger(__name__)

PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

# method full name -> the scopes any one of which allows the call
AccessPolicy = Mapping[str, frozenset[str]]


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self, authenticator: Authenticator, policy: AccessPolicy, metrics: ServiceMetrics
    ) -> None:
        self.authenticator = authenticator
        self.policy = policy
        self.metrics = metrics
        # Wrapped handlers by method: built on a method's first call, reused after.
        self._guarded: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(self, continuation: Callable, details: grpc.HandlerCallDetails):
        method = details.method
        guarded = self._guarded.get(method)
        if guarded is not None:
            return guarded
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None or method.startswith(PUBLIC_PREFIXES):
            return handler
        guarded = self._guard(method, handler)
        self._guarded[method] = guarded
        return guarded

    def _guard(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        inner = handler.unary_unary
        allowed = self.policy.get(method)
        # Label lookups take a lock and hash the labels: done once per method, not per call.
        # (Filled per code as codes occur, so /metrics shows only codes that happened.)
        requests: dict[grpc.StatusCode, Any] = {}
        duration = self.metrics.grpc_duration.labels(method)

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                principal = await self.authenticator.authenticate(
                    _authorization(context.invocation_metadata())
                )
                _authorize(principal, allowed, method)
                set_principal(principal)
                return await inner(request, context)
            except ServiceError as exc:
                code = exc.code
                await context.abort(code, str(exc), _error_metadata(exc))
            except grpc.aio.AioRpcError as exc:
                # A service this call depends on failed; say so instead of "internal error".
                code = (
                    grpc.StatusCode.UNAVAILABLE
                    if exc.code() in TRANSIENT
                    else grpc.StatusCode.INTERNAL
                )
                log.warning("dependency_failed", method=method, dependency_code=exc.code().name)
                await context.abort(code, "a service this call depends on is unavailable")
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception as exc:
                if database_away(exc):
                    code = grpc.StatusCode.UNAVAILABLE
                    log.warning("database_unavailable", method=method, error=type(exc).__name__)
                    await context.abort(code, DATABASE_AWAY_MESSAGE)
                code = grpc.StatusCode.INTERNAL
                log.exception("rpc_failed", method=method)
                await context.abort(code, "internal error")
            finally:
                counter = requests.get(code)
                if counter is None:
                    counter = requests[code] = self.metrics.grpc_requests.labels(method, code.name)
                counter.inc()
                duration.observe(time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _authorization(metadata: Any) -> dict[str, str]:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            return {"authorization": value}
    return {}


def _authorize(principal: Principal, allowed: frozenset[str] | None, method: str) -> None:
    if allowed is None:
        # Deny by default: a method nobody gave a policy is a method nobody may call.
        raise PermissionDenied(f"{method} has no access policy")
    if not allowed & principal.scopes:
        raise PermissionDenied(f"this credential may not call {method.rsplit('/', 1)[-1]}")


def _error_metadata(exc: ServiceError) -> tuple[tuple[str, str], ...]:
    if isinstance(exc, AlreadyExists) and exc.existing_id:
        return ((EXISTING_ID, exc.existing_id),)
    return ()
