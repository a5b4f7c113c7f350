"""Threads for a provider SDK that blocks (SendGrid's): a fixed number of them take
calls from one queue, so each is handed its next call the moment it is free, and hand the
results back to the event loop in bursts: one wake-up of the loop for whatever finished
meanwhile, not one per call (as run_in_executor would). A call whose caller stopped waiting
(its future cancelled) before a thread took it is skipped. `on_end` runs on each thread as it
ends: what a thread holds (e.g. its connection) is let go by that thread."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# A call and the future for its result; or (None, future): end the thread, saying so.
_Job = tuple[Callable[[], Any] | None, "asyncio.Future[Any]"]


class SenderThreads:
    def __init__(self, size: int, name: str, on_end: Callable[[], object] | None = None) -> None:
        self.size = size
        self.name = name
        self.on_end = on_end
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._done: deque[tuple[asyncio.Future[Any], bool, Any]] = deque()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def run(self, call: Callable[[], T]) -> asyncio.Future[T]:
        """`call()` on one of the threads; its result (or exception) on the caller's loop."""
        if not self._threads:
            self._start()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put((call, future))
        return future

    async def close(self, timeout_s: float | None = None) -> bool:
        """The threads end after the calls already queued; returns once they have (True), or
        after `timeout_s` with some still in a call (False: those are left to finish it, as
        daemons). The loop is never blocked: each thread's last act is to resolve a future."""
        threads, self._threads = self._threads, []
        if not threads:
            return True
        loop = asyncio.get_running_loop()
        ending: list[asyncio.Future[None]] = [loop.create_future() for _ in threads]
        for future in ending:  # one each: a thread takes one and ends
            self._jobs.put((None, future))
        _, running = await asyncio.wait(ending, timeout=timeout_s)
        if running:
            return False
        for thread in threads:
            thread.join()  # past its last act already: no wait
        return True

    def _start(self) -> None:
        # Daemon threads: one stuck in a call must not keep the process from exiting (its
        # message stays SENDING and is taken over, as UNKNOWN, by the next dispatcher).
        self._threads = [
            threading.Thread(target=self._work, name=f"{self.name}_{i}", daemon=True)
            for i in range(self.size)
        ]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while True:
            call, future = self._jobs.get()
            if call is None:  # close(): its results are handed back already; say so, and end
                try:
                    if self.on_end is not None:
                        self.on_end()
                finally:
                    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                        future.get_loop().call_soon_threadsafe(_settle_one, future, True, None)
                return
            if future.cancelled():  # nobody waits for it any more (e.g. shutting down)
                continue
            try:
                outcome: tuple[asyncio.Future[Any], bool, Any] = (future, True, call())
            except BaseException as exc:
                outcome = (future, False, exc)
            with self._lock:
                first = not self._done
                self._done.append(outcome)
            if first:  # the loop is not yet due to look: wake it once for the whole burst
                try:
                    future.get_loop().call_soon_threadsafe(self._settle)
                except RuntimeError:  # the loop is closed: nobody waits for the answer
                    with self._lock:
                        self._done.clear()

    def _settle(self) -> None:
        with self._lock:
            done = list(self._done)
            self._done.clear()
        running = asyncio.get_running_loop()
        for future, ok, value in done:
            if future.get_loop() is not running:  # another loop's call (rare: tests)
                with contextlib.suppress(RuntimeError):  # that loop is closed
                    future.get_loop().call_soon_threadsafe(_settle_one, future, ok, value)
            else:
                _settle_one(future, ok, value)


def _settle_one(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # cancelled while the call ran
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
