"""Threads for a provider SDK that blocks (SendGrid's is urllib): a fixed number of them take
calls from one queue, so each is handed its next call the moment it is free, and hand the
results back to the event loop in bursts: one wake-up of the loop for whatever finished
meanwhile, not one per call (as run_in_executor would)."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Callable[[], Any], "asyncio.Future[Any]"]


class SenderThreads:
    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
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

    def close(self) -> None:
        """The threads end after the calls already queued."""
        for _ in self._threads:
            self._jobs.put(None)
        self._threads = []

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
        while (job := self._jobs.get()) is not None:
            call, future = job
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
