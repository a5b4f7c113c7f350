"""An aiohttp app served in-process on a random loopback port, and fault injection shared by
the provider stand-ins: the next N calls answer 429 (with Retry-After) or 5xx, or are
accepted and answered only after the client gave up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Faults:
    throttle: int = 0  # the next N sends answer 429
    retry_after_s: float = 1.0
    server_errors: int = 0  # the next N sends answer 503
    slow: int = 0  # the next N sends are accepted, then answered after `delay_s`
    delay_s: float = 2.0
    invalid: set[str] = field(default_factory=set)  # addresses / numbers refused as invalid
    opted_out: set[str] = field(default_factory=set)  # numbers that sent STOP (Twilio)
    throttled: int = 0  # 429s answered so far
    throttled_at: list[float] = field(default_factory=list)  # loop time of each 429

    def take_throttle(self) -> bool:
        if self.throttle > 0:
            self.throttle -= 1
            self.throttled += 1
            self.throttled_at.append(asyncio.get_running_loop().time())
            return True
        return False

    def take_server_error(self) -> bool:
        if self.server_errors > 0:
            self.server_errors -= 1
            return True
        return False

    def take_slow(self) -> bool:
        if self.slow > 0:
            self.slow -= 1
            return True
        return False


class LoopbackServer:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self, port: int = 0) -> str:
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class Served:
    """start, stop and base_url for a stand-in that keeps its LoopbackServer in `server`."""

    server: LoopbackServer

    async def start(self) -> str:
        return await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    @property
    def base_url(self) -> str:
        return self.server.base_url
