"""Outbound gRPC: one channel per target, a deadline on every call, and bounded exponential
backoff with jitter on transient failures (UNAVAILABLE, DEADLINE_EXCEEDED)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from services.common.metrics import ServiceMetrics

T = TypeVar("T")
TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
# Trailing metadata of an ALREADY_EXISTS answer naming the existing object (set by the server
# interceptor), so that a caller can carry on with it without parsing the message.
EXISTING_ID = "existing-id"


# After a refused connection (a peer not listening yet: services start side by side) a channel
# fails every call fast until it reconnects. gRPC's default first wait is 1 s, longer than our
# retries of a call span, so a peer that came up a moment later still answered UNAVAILABLE;
# reconnect after 100 ms instead, backing off to 2 s for a peer that stays down.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


def existing_id(exc: grpc.aio.AioRpcError) -> str:
    """The id an ALREADY_EXISTS answer names (the interceptor's `existing-id`), or ''."""
    for key, value in exc.trailing_metadata() or ():
        if key == EXISTING_ID:
            return str(value)
    return ""


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() in TRANSIENT


class ServiceClient:
    """Calls another service with the internal token. `call(stub.Method, request)`."""

    def __init__(
        self,
        name: str,
        target: str,
        token: str,
        metrics: ServiceMetrics | None = None,
        deadline_s: float = 5.0,
        attempts: int = 4,
    ) -> None:
        self.name = name
        self.target = target
        self._channel: grpc.aio.Channel | None = None
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._metrics = metrics
        self._deadline_s = deadline_s
        self._attempts = attempts

    @property
    def channel(self) -> grpc.aio.Channel:
        # Created on first use, inside the running event loop.
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.target, options=CHANNEL_OPTIONS)
        return self._channel

    async def call(self, method: Callable[..., Awaitable[T]], request: object) -> T:
        outcome = "ok"
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(_is_transient),
                wait=wait_random_exponential(multiplier=0.1, max=2.0),
                stop=stop_after_attempt(self._attempts),
                reraise=True,
            ):
                with attempt:
                    return await method(request, timeout=self._deadline_s, metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            outcome = exc.code().name
            raise
        finally:
            if self._metrics is not None:
                self._metrics.outbound_calls.labels(self.name, outcome).inc()
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
